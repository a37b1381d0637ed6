#!/bin/bash
# kill -9 / SIGTERM loop (build first: cargo build --release): a run killed at random
# moments, alternately by SIGKILL and SIGTERM, then resumed from its checkpoint, always
# leaves a checkpoint that loads, never goes back a step, leaves no temporary file after
# a resume, and ends with its model. KILLS=N sets the number of kills (default 10).
ROOT="$(cd "$(dirname "$0")/.." && pwd)"; B=$ROOT/target/release/aegpu; I=$ROOT/data/small/iris.csv
D=${TMPDIR:-/tmp}/aegpu-kill-loop; rm -rf $D; mkdir -p $D; cd $D
args="train --data $I --label-column target --layers 4,3,2 --epochs 3000 --batch 1 --checkpoint-every 1 --backend cpu --out $D/m.safetensors --scale minmax"
# The step recorded in a checkpoint's metadata.
step() {
  python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]
m=json.loads(f.read(n))["__metadata__"]; print(json.loads(m["aegpu.checkpoint"])["position"]["step"])' "$1"
}
ok=0; n=0; last=0; back=0
for i in $(seq 1 ${KILLS:-10}); do
  r=""; [ -f m.ckpt.safetensors ] && r="--resume m.ckpt.safetensors"
  $B $args $r >/dev/null 2>err.txt & pid=$!
  sleep 0.$((RANDOM % 9 + 1))
  if [ $((i % 2)) -eq 0 ]; then sig=TERM; else sig=KILL; fi
  kill -$sig $pid 2>/dev/null; wait $pid 2>/dev/null; rc=$?
  n=$((n+1))
  if [ -f m.ckpt.safetensors ]; then
    s=$(step m.ckpt.safetensors)
    [ "$s" -lt "$last" ] && back=$((back+1)); last=$s
    if $B eval --model m.ckpt.safetensors --data $I --label-column target --backend cpu >/dev/null 2>e2.txt; then ok=$((ok+1)); st="checkpoint at step $s loads"; else st="BAD: $(cat e2.txt)"; fi
  else st="no checkpoint yet"; ok=$((ok+1)); fi
  echo "kill $i: SIG$sig rc=$rc; $st; temporaries: $(ls -a | grep -c '\.tmp$')"
done
$B $args --resume m.ckpt.safetensors >/dev/null 2>err.txt; echo "final resume rc=$? model: $(ls m.safetensors 2>/dev/null) temporaries: $(ls -a | grep -c '\.tmp$')"
echo "$ok of $n kills left a usable state; $back went back a step"
