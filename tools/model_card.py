#!/usr/bin/python3
"""Writes a bundled model's card (markdown) from its training run and its measured quality.

    /usr/bin/python3 tools/model_card.py --run RUN_DIR --model models/speech16k.safetensors \
        --quality quality.json --hardware "2 cores of an AMD EPYC" [--out models/speech16k.md]

RUN_DIR/train.csv gives the steps, the wall time (its elapsed_s restarts at every resume; the
segments are summed) and the last validation NLL; the quality JSON is what
`tools/eval_quality.py --json` writes (copy-synthesis of the held-out files against Griffin-Lim).

A run that started from an earlier export (`waveglow train --init`) is a further stage:
`--continues OLD_CARD` reads the earlier card's steps, wall time, stages and validation NLLs (run
the tool before the old card is overwritten, or give a copy) and the card reports every stage.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_summary(run_dir, until=0):
    """steps, wall seconds and validation NLLs of a run, up to step `until` (0: all of it) where the
    shipped export is an earlier checkpoint than the run's last"""
    rows = list(csv.DictReader(open(os.path.join(run_dir, "train.csv"))))
    if until:
        if not any(int(r["step"]) == until for r in rows):
            sys.exit(f"model_card: {run_dir}/train.csv has no step {until}")
        rows = [r for r in rows if int(r["step"]) <= until]
    if not rows:
        sys.exit(f"model_card: {run_dir}/train.csv has no rows")
    wall, seg_end, prev = 0.0, 0.0, None
    for r in rows:
        e = float(r["elapsed_s"])
        if prev is not None and e < prev:  # a resume: a new segment starts
            wall += seg_end
        seg_end = prev = e
    wall += seg_end
    vals = [(int(r["step"]), float(r["val_nll"])) for r in rows if r["val_nll"]]
    return int(rows[-1]["step"]), wall, vals


def training_lines(steps, wall, vals, hardware):
    return [
        f"- steps: {steps:,} (global batch 4 x 16000 samples, Adam, lr 2e-4 after 200 warm-up steps, "
        "gradient clipping at norm 1000, dequantisation noise of one 16-bit step)",
        f"- wall time: {wall / 3600:.1f} h on {hardware}",
        "- command: `mpirun -np 2 waveglow train --config models/speech16k.config.json --data corpus --out run` "
        "(batch_size 2 per rank; earlier steps ran as one process with batch 8, then 4), then "
        "`waveglow export run -o models/speech16k.safetensors`",
        "- held-out log-likelihood (validation NLL, nats per sample; lower is better): "
        + ", ".join(f"{v:.3f} at step {s:,}" for s, v in vals),
    ]


def earlier_stages(card):
    """Total steps, wall hours, stage lines and validation NLL text of a card this tool wrote: a
    one-stage card's training lines become its stage 1"""
    text = open(card).read()
    steps = re.search(r"^- steps: ([\d,]+)", text, re.M)
    hours = re.search(r"^- wall time: ([\d.]+) h", text, re.M)
    nll = re.search(r"^- held-out log-likelihood \(validation NLL[^:]*: (.*)$", text, re.M)
    if not (steps and hours and nll):
        sys.exit(f"model_card: {card} does not look like a card this tool wrote")
    total, wall = int(steps.group(1).replace(",", "")), float(hours.group(1))
    stages = re.findall(r"^(- stage \d+: .*)$", text, re.M)
    if stages:
        return total, wall, stages, nll.group(1)
    first = (f"- stage 1: {total:,} steps from the seeded start, lr 2e-4 after 200 warm-up steps, {wall:.1f} h "
             "(the run began as one process with batch 8, then 4, then `mpirun -np 2` with batch_size 2 per rank)")
    return total, wall, [first], "stage 1: " + nll.group(1)


def seeds_text(q):
    """how many latent draws the quality JSON averages, and the spread of their means"""
    k = q.get("seeds", 1)
    if k < 2:
        return ""
    sm = q["seed_mean"]
    return (f", each vocoded with latent seeds 0 to {k - 1} (`--seeds {k}`: the means below; each seed's mean over "
            f"the files: LSD {min(sm['lsd']):.3f}-{max(sm['lsd']):.3f} dB, MCD {min(sm['mcd']):.2f}-"
            f"{max(sm['mcd']):.2f} dB)")


NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def staged_lines(before, steps, wall, vals, args):
    total, hours, stages, nll = before
    k = len(stages) + 1
    count = NUMBERS[k] if k < len(NUMBERS) else str(k)
    return [
        f"- steps: {total + steps:,} in {count} stages, global batch 4 x 16000 samples, Adam, gradient clipping at "
        "norm 1000, dequantisation noise of one 16-bit step",
        *stages,
        f"- stage {k}: {steps:,} steps from stage {k - 1}'s export, "
        + (args.stage_command or f"`mpirun -np 2 waveglow train --config {args.stage_config} --data corpus --init "
           f"models/speech16k.safetensors --out run{k}` with batch_size 2")
        + f" (Adam's moments start afresh), {args.recipe}, {wall / 3600:.1f} h",
        f"- wall time: {hours + wall / 3600:.1f} h in all on {args.hardware}",
        f"- held-out log-likelihood (validation NLL, nats per sample; lower is better): {nll}; "
        f"stage {k} (its own step count): " + ", ".join(f"{v:.3f} at step {s:,}" for s, v in vals),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--quality", required=True)
    ap.add_argument("--hardware", required=True)
    ap.add_argument("--waveglow", default=os.path.join(ROOT, "build", "waveglow"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "speech16k.md"))
    ap.add_argument("--notes", default="", help="a paragraph on the state of the model")
    ap.add_argument("--continues", help="the card of the export this run started from (--init)")
    ap.add_argument("--recipe", default="lr 2e-4 after 100 warm-up steps",
                    help="with --continues: the new stage's learning rate, in words")
    ap.add_argument("--stage-config", default="models/speech16k.config.json",
                    help="with --continues: the config the new stage trained with (as its command names it)")
    ap.add_argument("--stage-command", help="with --continues: the new stage's command and batch, in words "
                    "(default: mpirun -np 2 with --stage-config and batch_size 2 a rank)")
    ap.add_argument("--until-step", type=int, default=0,
                    help="the run's step that was exported, where it is not the last (its steps and time count)")
    args = ap.parse_args()
    before = earlier_stages(args.continues) if args.continues else None
    info = subprocess.run([args.waveglow, "info", "--model", args.model], check=True, capture_output=True,
                          text=True).stdout.strip().split("\n")[1:]
    q = json.load(open(args.quality))
    if q.get("split", "heldout") != "heldout":
        sys.exit(f"model_card: {args.quality} measures training files; the card reports held-out ones")
    m = q["mean"]
    steps, wall, vals = run_summary(args.run, args.until_step)
    beat = m["lsd"] < m["gl_lsd"] and m["mcd"] < m["gl_mcd"]
    name = os.path.basename(args.model)
    lines = [
        f"# {name}: a WaveGlow for 16 kHz speech",
        "",
        "## Data and licence",
        "Trained on Debian's `asterisk-core-sounds-en-g722` (568 prompts, about 25 minutes of one professional "
        "speaker, G.722 at 16 kHz, decoded with ffmpeg by `audio/fetch-corpus.sh`). Recorded by Allison Smith "
        "(http://www.theivrvoice.com), financial contributions by Digium, Inc.; licensed CC-BY-SA-3.0, and so is "
        "this model, a work derived from the recordings. A fixed 10% of the files (by a hash of the file name) "
        "is held out: they were never trained on.",
        "",
        "## Config",
        "`models/speech16k.config.json` (NVIDIA's config layout):",
        "",
        "```",
        *info,
        "```",
        "",
        "## Training",
        *(staged_lines(before, steps, wall, vals, args) if before else training_lines(steps, wall, vals, args.hardware)),
        "",
        "## Objective quality (copy-synthesis of the held-out files)",
        f"`tools/eval_quality.py`, sigma {q['sigma']}, {len(q['files'])} held-out files"
        + seeds_text(q) + "; Griffin-Lim is torchaudio's, "
        "60 iterations over the pseudo-inverse of the mel filterbank, from the same mel.",
        "",
        "| | log-spectral distance | mel-cepstral distortion |",
        "|---|---|---|",
        f"| this model | {m['lsd']:.2f} dB | {m['mcd']:.2f} dB |",
        f"| Griffin-Lim | {m['gl_lsd']:.2f} dB | {m['gl_mcd']:.2f} dB |",
        "",
        f"Target: beat Griffin-Lim on both. {'Met.' if beat else 'Not met yet.'}",
    ]
    if args.notes:
        lines += ["", "## State", args.notes]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(open(args.out).read())


if __name__ == "__main__":
    main()
