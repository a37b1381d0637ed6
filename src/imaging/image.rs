//! [`Image`]: a grey or colour picture as planar CHW f32 values on the 0–1 scale, read
//! from and written to PNG (and read from JPEG).

use std::io::Cursor;
use std::path::Path;

use image::codecs::png::PngEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, ImageFormat, ImageReader};

use super::{ImageShape, ImagingError};
use crate::io::atomic_write;

/// ITU-R BT.601 luma weights for R, G, B: Y′ = 0.299 R′ + 0.587 G′ + 0.114 B′.
const BT601_LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// A grey (1 channel) or RGB (3 channels) image, stored planar: channel after channel,
/// each row-major (CHW, one row of the engine's `[N, C·H·W]` batches).
///
/// Pixels read from files are on the 0–1 scale (an 8-bit value k is k/255, a 16-bit one
/// k/65535), with no gamma or colour-profile conversion: the values are the file's. A
/// noisy image may leave [0, 1]; nothing here clamps except writing a PNG.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    shape: ImageShape,
    data: Vec<f32>,
}

impl Image {
    /// An image of `shape` from planar CHW `data`. The shape must have 1 or 3 channels
    /// and at least one pixel, and `data` exactly `shape.len()` values.
    pub fn new(shape: ImageShape, data: Vec<f32>) -> Result<Image, ImagingError> {
        if shape.channels != 1 && shape.channels != 3 {
            return Err(ImagingError::shape(format!(
                "an image has 1 (grey) or 3 (RGB) channels, not {}",
                shape.channels
            )));
        }
        if shape.is_empty() {
            return Err(ImagingError::shape(format!("image {shape} is empty")));
        }
        if data.len() != shape.len() {
            return Err(ImagingError::shape(format!(
                "image {shape} needs {} values, got {}",
                shape.len(),
                data.len()
            )));
        }
        Ok(Image { shape, data })
    }

    /// An RGB image from 8-bit samples interleaved R, G, B pixel after pixel, rows top
    /// to bottom (what a raster drawing library paints into), each k read as k/255.
    pub fn from_rgb8(width: usize, height: usize, rgb: &[u8]) -> Result<Image, ImagingError> {
        let shape = ImageShape::new(3, height, width);
        if rgb.len() != shape.len() {
            return Err(ImagingError::shape(format!(
                "a {width}×{height} RGB image needs {} bytes, got {}",
                shape.len(),
                rgb.len()
            )));
        }
        Image::new(shape, planar(&scaled(rgb, 3, 255.0), shape))
    }

    /// Reads a PNG or JPEG file (the format is told by its first bytes, not its name).
    ///
    /// Grey and RGB images are read as they are; the alpha channel of grey+alpha and
    /// RGBA images is dropped; palette PNGs become RGB; 16-bit samples are scaled by
    /// 1/65535 and 8-bit ones by 1/255.
    pub fn load(path: impl AsRef<Path>) -> Result<Image, ImagingError> {
        Ok(Image::load_noting(path)?.0)
    }

    /// [`Image::load`], with a note for each conversion of the file's pixel format that
    /// a user should hear about: an alpha channel dropped, 16-bit samples (a result
    /// saved as PNG is 8-bit), a palette expanded to RGB, CMYK converted to RGB (the
    /// JPEG decoder's conversion, no colour profile).
    pub fn load_noting(path: impl AsRef<Path>) -> Result<(Image, Vec<String>), ImagingError> {
        let path = path.as_ref();
        let bytes = crate::io::limits::read_regular(path).map_err(|e| match e {
            crate::io::IoError::Io { path, source } => ImagingError::Io { path, source },
            other => other.into(),
        })?;
        let empty = |detail: String| ImagingError::Empty {
            path: path.to_path_buf(),
            detail,
        };
        if bytes.is_empty() {
            return Err(empty("the file has 0 bytes".to_string()));
        }
        let format = match image::guess_format(&bytes) {
            Ok(format @ (ImageFormat::Png | ImageFormat::Jpeg)) => format,
            Ok(other) => {
                return Err(ImagingError::Unsupported {
                    path: path.to_path_buf(),
                    detail: format!("a {other:?} file; only PNG and JPEG are read"),
                })
            }
            Err(_) => {
                return Err(ImagingError::Unsupported {
                    path: path.to_path_buf(),
                    detail: "not a PNG or JPEG file (its first bytes are neither signature)"
                        .to_string(),
                })
            }
        };
        // The header's size is checked before any pixel is decoded: a 250 KB PNG may
        // declare 16,000 × 16,000 pixels (Pillow's MAX_IMAGE_PIXELS guards the same).
        // The decoders' own text may hold line breaks (the JPEG decoder's I/O errors
        // end in one, found by `cargo fuzz run image`): one line, cut.
        let corrupt = |e: image::ImageError| ImagingError::Corrupt {
            path: path.to_path_buf(),
            detail: decoder_text(&e),
        };
        let (width, height) = ImageReader::with_format(Cursor::new(&bytes), format)
            .into_dimensions()
            .map_err(corrupt)?;
        let pixels = u64::from(width) * u64::from(height);
        crate::io::limits::IMAGE_PIXELS
            .check(pixels, &format!("{width} × {height} pixels"))
            .map_err(|detail| ImagingError::Unsupported {
                path: path.to_path_buf(),
                detail,
            })?;
        let mut reader = ImageReader::with_format(Cursor::new(&bytes), format);
        let mut limits = image::Limits::default();
        // Room for the widest pixel format decoded (RGBA of 32-bit floats) and no more.
        limits.max_alloc = Some(pixels.saturating_mul(16).max(1 << 20));
        reader.limits(limits);
        let decode_error = |e| match e {
            image::ImageError::Unsupported(e) => ImagingError::Unsupported {
                path: path.to_path_buf(),
                detail: e.to_string(),
            },
            other => ImagingError::Corrupt {
                path: path.to_path_buf(),
                detail: decoder_text(&other),
            },
        };
        let decoder = reader.into_decoder().map_err(decode_error)?;
        let original = image::ImageDecoder::original_color_type(&decoder);
        let decoded = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
        // A PNG's colour type is byte 25 (after the signature and IHDR's length, tag,
        // width, height and bit depth); 3 is a palette.
        let palette = format == ImageFormat::Png && bytes.get(25) == Some(&3);
        let mut notes = vec![];
        if palette {
            notes.push("a palette image: its colours are read as RGB".to_string());
        }
        let cmyk_jpeg = format == ImageFormat::Jpeg && jpeg_components(&bytes) == Some(4);
        if cmyk_jpeg
            || matches!(
                original,
                ExtendedColorType::Cmyk8 | ExtendedColorType::Cmyk16
            )
        {
            notes.push(
                "a CMYK image: converted to RGB by the decoder (no colour profile applied)"
                    .to_string(),
            );
        }
        if decoded.color().has_alpha() {
            notes.push("its alpha channel is dropped (the result has none)".to_string());
        }
        if decoded.color().bytes_per_pixel() / decoded.color().channel_count() == 2 {
            notes.push(
                "16-bit samples: denoised at full precision, written back as 8-bit PNG".to_string(),
            );
        }
        let (width, height) = (decoded.width(), decoded.height());
        if width == 0 || height == 0 {
            return Err(empty(format!("the image has {width}×{height} pixels")));
        }
        let (channels, interleaved) = match decoded {
            DynamicImage::ImageLuma8(im) => (1, scaled(im.as_raw(), 1, 255.0)),
            DynamicImage::ImageLumaA8(im) => (1, scaled(im.as_raw(), 2, 255.0)),
            DynamicImage::ImageRgb8(im) => (3, scaled(im.as_raw(), 3, 255.0)),
            DynamicImage::ImageRgba8(im) => (3, scaled(im.as_raw(), 4, 255.0)),
            DynamicImage::ImageLuma16(im) => (1, scaled(im.as_raw(), 1, 65535.0)),
            DynamicImage::ImageLumaA16(im) => (1, scaled(im.as_raw(), 2, 65535.0)),
            DynamicImage::ImageRgb16(im) => (3, scaled(im.as_raw(), 3, 65535.0)),
            DynamicImage::ImageRgba16(im) => (3, scaled(im.as_raw(), 4, 65535.0)),
            other => {
                return Err(ImagingError::Unsupported {
                    path: path.to_path_buf(),
                    detail: format!(
                        "pixel format {:?} is not read; expected 8- or 16-bit grey or RGB",
                        other.color()
                    ),
                })
            }
        };
        let shape = ImageShape::new(channels, height as usize, width as usize);
        let image = Image {
            shape,
            data: planar(&interleaved, shape),
        };
        Ok((image, notes))
    }

    /// Writes an 8-bit PNG (grey for one channel, RGB for three), atomically: each value
    /// is clamped to [0, 1] and rounded to the nearest k/255 (NaN is written as 0).
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), ImagingError> {
        let path = path.as_ref();
        let bytes: Vec<u8> = self
            .interleaved()
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        let color = if self.shape.channels == 1 {
            ExtendedColorType::L8
        } else {
            ExtendedColorType::Rgb8
        };
        let mut png = Vec::new();
        PngEncoder::new(Cursor::new(&mut png))
            .write_image(
                &bytes,
                self.shape.width as u32,
                self.shape.height as u32,
                color,
            )
            .map_err(|e| ImagingError::Encode {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        atomic_write(path, &png)?;
        Ok(())
    }

    /// The grey version: itself for a grey image, and for RGB the BT.601 luma
    /// Y = 0.299 R + 0.587 G + 0.114 B, applied to the stored values (as scikit-image's
    /// `rgb2gray` and PIL's `convert("L")` do, without gamma decoding).
    pub fn to_gray(&self) -> Image {
        if self.shape.channels == 1 {
            return self.clone();
        }
        let plane = self.shape.plane();
        let (r, g, b) = (self.plane(0), self.plane(1), self.plane(2));
        let data = (0..plane)
            .map(|i| BT601_LUMA[0] * r[i] + BT601_LUMA[1] * g[i] + BT601_LUMA[2] * b[i])
            .collect();
        Image {
            shape: ImageShape::new(1, self.shape.height, self.shape.width),
            data,
        }
    }

    /// Channel `k` as a grey image.
    ///
    /// # Panics
    /// If `k` is not below the number of channels.
    pub fn channel(&self, k: usize) -> Image {
        assert!(
            k < self.shape.channels,
            "channel {k} of a {}-channel image",
            self.shape.channels
        );
        Image {
            shape: ImageShape::new(1, self.shape.height, self.shape.width),
            data: self.plane(k).to_vec(),
        }
    }

    /// Stacks one or three grey images of one size into a grey or RGB image (the
    /// inverse of [`Image::channel`]).
    pub fn from_channels(channels: &[Image]) -> Result<Image, ImagingError> {
        let first = channels
            .first()
            .ok_or_else(|| ImagingError::shape("from_channels needs at least one channel"))?;
        let (height, width) = (first.height(), first.width());
        if let Some(bad) = channels
            .iter()
            .find(|c| c.shape != ImageShape::new(1, height, width))
        {
            return Err(ImagingError::shape(format!(
                "from_channels needs grey images of one size; got {} and {}",
                first.shape, bad.shape
            )));
        }
        let data = channels
            .iter()
            .flat_map(|c| c.data.iter().copied())
            .collect();
        Image::new(ImageShape::new(channels.len(), height, width), data)
    }

    /// An image of this one's shape holding `data` (of the same length).
    pub(super) fn with_data(&self, data: Vec<f32>) -> Image {
        debug_assert_eq!(data.len(), self.data.len());
        Image {
            shape: self.shape,
            data,
        }
    }

    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    pub fn channels(&self) -> usize {
        self.shape.channels
    }

    pub fn height(&self) -> usize {
        self.shape.height
    }

    pub fn width(&self) -> usize {
        self.shape.width
    }

    /// All values, planar CHW.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// All values, planar CHW, to change in place.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The values, planar CHW, without copying.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The H·W values of channel `k`, row-major.
    ///
    /// # Panics
    /// If `k` is not below the number of channels.
    pub fn plane(&self, k: usize) -> &[f32] {
        let plane = self.shape.plane();
        &self.data[k * plane..(k + 1) * plane]
    }

    /// The value of channel `c` at row `y`, column `x`.
    pub fn get(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.shape.height + y) * self.shape.width + x]
    }

    /// The values interleaved HWC, as image files store them.
    fn interleaved(&self) -> Vec<f32> {
        let (channels, plane) = (self.shape.channels, self.shape.plane());
        let mut out = vec![0.0; self.data.len()];
        for (c, values) in self.data.chunks_exact(plane).enumerate() {
            for (i, &v) in values.iter().enumerate() {
                out[i * channels + c] = v;
            }
        }
        out
    }
}

/// Interleaved samples with `stride` per pixel (alpha, if any, last) divided by `max`
/// (so k/255 is the nearest f32 to the true quotient), dropping the alpha sample.
fn scaled<T: Copy + Into<f32>>(samples: &[T], stride: usize, max: f32) -> Vec<f32> {
    let keep = if stride >= 3 { 3 } else { 1 };
    samples
        .chunks_exact(stride)
        .flat_map(|pixel| pixel[..keep].iter().map(move |&s| s.into() / max))
        .collect()
}

/// Interleaved HWC values rearranged into planar CHW.
fn planar(interleaved: &[f32], shape: ImageShape) -> Vec<f32> {
    let (channels, plane) = (shape.channels, shape.plane());
    let mut out = vec![0.0; interleaved.len()];
    for (i, pixel) in interleaved.chunks_exact(channels).enumerate() {
        for (c, &v) in pixel.iter().enumerate() {
            out[c * plane + i] = v;
        }
    }
    out
}

/// The number of colour components in a JPEG's frame header (SOFn), by walking its
/// marker segments: 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK. None when no frame header is found.
fn jpeg_components(bytes: &[u8]) -> Option<u8> {
    let mut at = 2; // after SOI
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let is_frame = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            // length(2) precision(1) height(2) width(2) components(1)
            return bytes.get(at + 9).copied();
        }
        if marker == 0xDA {
            return None; // scan data before any frame header
        }
        at += 2 + length;
    }
    None
}

/// An image decoder's error as one line of at most 300 characters.
fn decoder_text(e: &image::ImageError) -> String {
    crate::io::limits::shorten(e.to_string().trim(), 300)
}
