//! `--config FILE.toml`: a TOML file whose keys are the command's long flags, so the
//! file and the command line share one spelling and one set of checks:
//!
//! ```toml
//! layers = [784, 256, 64]
//! epochs = 20
//! optimizer = "adamw"
//! weight-decay = 1e-4
//! sparse-kl = "0.05,3"
//! noise = "mask:0.3"
//! tied = true
//! ```
//!
//! The file's settings are inserted before the command line's own flags, and a repeated
//! flag overrides the earlier one, so `--config run.toml --epochs 5` trains 5 epochs.
//! Keys may use `-` or `_`; a key the command does not know is an error, as an unknown
//! flag is.

use std::ffi::OsString;
use std::path::Path;

use crate::io::limits;

/// Replaces each `--config FILE` (or `--config=FILE`) in `args` by the flags the file
/// spells out. `args[0]` is the program and `args[1]` the subcommand. Arguments are
/// taken as the OS gives them (a path need not be UTF-8).
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let mut out = Vec::with_capacity(args.len());
    let mut from_files = vec![];
    let mut rest = args.into_iter();
    // The program and the subcommand stay first; file flags go right after them.
    out.extend(rest.by_ref().take(2));
    let mut tail = vec![];
    while let Some(arg) = rest.next() {
        let path = if arg == "--config" {
            Some(
                rest.next()
                    .ok_or("--config needs a file: --config run.toml")?,
            )
        } else {
            arg.to_str()
                .and_then(|a| a.strip_prefix("--config="))
                .map(OsString::from)
        };
        match path {
            Some(p) => from_files.extend(
                flags_from_file(Path::new(&p))?
                    .into_iter()
                    .map(OsString::from),
            ),
            None => tail.push(arg),
        }
    }
    out.extend(from_files);
    out.extend(tail);
    Ok(out)
}

/// The config files this process read, so that no output replaces one.
static FILES_READ: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The `--config` files read by [`expand`].
pub fn files_read() -> Vec<std::path::PathBuf> {
    FILES_READ.lock().map(|f| f.clone()).unwrap_or_default()
}

/// A config is small: anything past this is not one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

fn flags_from_file(path: &Path) -> Result<Vec<String>, String> {
    let cannot = |e: String| format!("cannot read config {}: {e}", path.display());
    let (file, len) = limits::open_regular(path).map_err(|e| cannot(e.to_string()))?;
    if len > MAX_CONFIG_BYTES {
        return Err(cannot(format!(
            "{len} bytes; a config file holds at most {MAX_CONFIG_BYTES}"
        )));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_CONFIG_BYTES), &mut text)
        .map_err(|e| cannot(e.to_string()))?;
    if let Ok(mut files) = FILES_READ.lock() {
        files.push(path.to_path_buf());
    }
    flags_from_toml(&text).map_err(|e| format!("config {}: {e}", path.display()))
}

/// `line L, column C` (counting from 1) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> String {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// The flags a TOML document stands for: `key = value` becomes `--key value`; `true`
/// becomes `--key` and `false` nothing; an array becomes a comma-separated list.
pub fn flags_from_toml(text: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let reason = e.message().trim().replace('\n', "; ");
        match e.span() {
            Some(span) => format!("{}: {reason}", line_and_column(text, span.start)),
            None => reason,
        }
    })?;
    let mut flags = vec![];
    for (key, value) in table {
        let flag = format!("--{}", key.replace('_', "-"));
        match value {
            toml::Value::Boolean(true) => flags.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                let items: Result<Vec<String>, String> =
                    items.iter().map(|v| scalar(&key, v)).collect();
                flags.push(flag);
                flags.push(items?.join(","));
            }
            other => {
                flags.push(flag);
                flags.push(scalar(&key, &other)?);
            }
        }
    }
    Ok(flags)
}

fn scalar(key: &str, v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!(
            "`{key}`: expected a string, number, boolean or a list of them"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_flags() {
        let flags = flags_from_toml(
            "layers = [784, 256, 64]\nlr = 0.001\ntied = true\nbias = false\nsparse_kl = \"0.05,3\"\n",
        )
        .unwrap();
        assert_eq!(
            flags,
            [
                "--layers",
                "784,256,64",
                "--lr",
                "0.001",
                "--sparse-kl",
                "0.05,3",
                "--tied"
            ]
        );
    }

    #[test]
    fn file_flags_come_before_the_command_line() {
        let dir = std::env::temp_dir().join(format!("aegpu-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("run.toml");
        std::fs::write(&file, "epochs = 20\n").unwrap();
        let args = [
            "aegpu",
            "train",
            "--config",
            file.to_str().unwrap(),
            "--epochs",
            "5",
        ];
        let expanded = expand(args.iter().map(OsString::from).collect()).unwrap();
        assert_eq!(
            expanded,
            ["aegpu", "train", "--epochs", "20", "--epochs", "5"]
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_toml_is_one_line_with_its_place_and_reason() {
        let e = flags_from_toml("epochs = 3\nlayers = [784,").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with("line 2, column"), "{e}");
        let e = flags_from_toml("lr = 1e-3\nlr = 2").unwrap_err();
        assert!(e.contains("line 2") && e.contains("duplicate"), "{e}");
    }
}
