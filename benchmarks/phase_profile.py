"""Where the time of a training script's main loop goes. Runs the real script in this process as __main__ (as
`python -m cProfile script.py` does) while a thread samples the main thread's Python stack every --interval seconds;
each sample is weighted by the time since the previous one and sorted into a phase by the functions on the stack
and by which loop of the script (found in its source: the main loop, and in it the rollout over `num_steps` and the
update over the epochs) the script's line is in. Torch, ale-py and MuJoCo release the GIL while they work, so their
time is seen where it is spent. cProfile cannot do this: the rollout's and the update's forward passes are the same
function called from the same frame. Samples before the script's --skip'th `SPS` line (warm-up) and outside its main
loop do not count. On CUDA, run with CUDA_LAUNCH_BLOCKING=1 so a kernel's time lands on the line that launched it.

    python benchmarks/phase_profile.py --phases atari --out profile.json -- ppo_etf_atari.py --total-timesteps 8192
"""

import argparse
import ast
import json
import linecache
import re
import runpy
import sys
import threading
import time
from collections import Counter
from pathlib import Path

# (phase, regex searched in "[loop part] file:function > file:function ... | source line of the script"), first wins
PHASES = {
    "atari": [
        ("metrics", r":\w*metrics|metrics_common\.py|:actor_after_update"),
        ("env step", r"ale_py/|gymnasium/|atari_wrappers|stable_baselines3/"),
        ("update: backward + optimizer", r"^\[update\].*(_tensor\.py:backward|torch/autograd/|torch/optim/|clip_grad)"),
        ("update: forward + loss", r"^\[update\]"),
        ("rollout: forward", r"^\[rollout\].*(:get_action|:get_value|:policy|torch/nn/|torch/_dynamo/|torch/_inductor/)"),
        ("rollout: rest (storage, copies, logging)", r"^\[rollout\]"),
        ("rest of the iteration (GAE, logging)", r"^\[loop\]"),
    ],
    "drqv2": [
        ("evaluation (not in SPS)", r":evaluate\b"),
        ("metrics", r":\w*metrics|metrics_common\.py"),
        ("update", r":update\b"),
        ("replay sample", r"drqv2\w*\.py:sample\b|:\w*prefetch"),
        ("env step + render", r"dm_control/|mujoco/|drqv2\w*\.py:(step|reset|render)\b"),
        ("host-to-device copies", r"<genexpr>|as_tensor|\.to\(|pin_memory"),
        ("act", r"torch/|:sample_action"),
        ("rest of the loop (buffer add, logging)", r"^\[loop\]"),
    ],
}


def loop_parts(source):
    """Line ranges of the script's main loop (the longest `for` outside functions) and, in it, of the rollout (the
    first `for` over num_steps) and the update (the `for` over the epochs)."""
    loops, stack = [], [node for node in ast.parse(source).body if not isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.For, ast.While)):
            loops.append(node)
        stack.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    main = max(loops, key=lambda node: node.end_lineno - node.lineno)
    inner = sorted((node for node in loops if main.lineno < node.lineno <= main.end_lineno), key=lambda node: node.lineno)
    parts = {"loop": (main.lineno, main.end_lineno)}
    for name, pattern in (("rollout", "num_steps"), ("update", "epochs")):
        found = [node for node in inner if isinstance(node, ast.For) and pattern in ast.unparse(node.iter)]
        if found:
            parts[name] = (found[0].lineno, found[0].end_lineno)
    return parts


def short(filename):
    return filename.split("site-packages/")[-1] if "site-packages/" in filename else Path(filename).name


def describe(module_line, frames, parts, script):
    inner = [name for name in ("rollout", "update") if name in parts and parts[name][0] <= module_line <= parts[name][1]]
    where = inner[0] if inner else "loop" if parts["loop"][0] <= module_line <= parts["loop"][1] else "setup"
    stack = " > ".join(f"{short(file)}:{function}" for file, function in frames)
    return f"[{where}] {stack} | {linecache.getline(script, module_line).strip()}"


class Enough(Exception):
    """Raised from print() at the last SPS line wanted: ends the script there."""


class LineCounter:
    """stdout that counts the lines starting with SPS that pass through it, and stops the script after `stop_after`."""

    def __init__(self, stream, stop_after=None):
        self.stream, self.count, self.stop_after = stream, 0, stop_after

    def write(self, text):
        self.count += text.startswith("SPS")
        written = self.stream.write(text)
        if text.endswith("\n") and self.count == self.stop_after:
            raise Enough
        return written

    def __getattr__(self, name):
        return getattr(self.stream, name)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", choices=sorted(PHASES), default="atari")
    parser.add_argument("--interval", type=float, default=0.002, help="seconds between samples")
    parser.add_argument("--skip", type=int, default=1, help="count samples from this SPS line on (warm-up)")
    parser.add_argument("--stop-after", type=int, help="end the script after this many SPS lines")
    parser.add_argument("--top", type=int, default=0, help="also print the N costliest stacks and their phases")
    parser.add_argument("--out", type=Path, help="write {seconds: {phase: s}, iterations: n} as JSON here")
    parser.add_argument("script")
    parser.add_argument("script_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    script = str(Path(args.script).resolve())
    parts = loop_parts(Path(script).read_text())
    samples, stop, main_id = Counter(), threading.Event(), threading.get_ident()
    sys.stdout = counter = LineCounter(sys.stdout, args.stop_after)

    def sample():
        last = time.perf_counter()
        while not stop.wait(args.interval):
            now, frame = time.perf_counter(), sys._current_frames().get(main_id)
            frames = []
            while frame is not None:
                frames.append(frame)
                frame = frame.f_back
            frames.reverse()
            module = next((i for i, f in enumerate(frames) if f.f_code.co_filename == script), None)
            if counter.count >= args.skip and module is not None and frames[module].f_code.co_name == "<module>":
                inner = tuple((f.f_code.co_filename, f.f_code.co_name) for f in frames[module + 1 :])
                samples[frames[module].f_lineno, inner] += now - last
            last = now

    sys.argv = [script, *args.script_args]
    sys.path[0] = str(Path(script).parent)
    sys.setswitchinterval(2e-5)  # the sampler gets the GIL within 20 us, even from pure-Python code that holds it
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        runpy.run_path(script, run_name="__main__")
    except Enough:
        pass
    finally:
        stop.set()
        thread.join()
        seconds, stacks = Counter(), Counter()
        for (line, frames), weight in samples.items():
            text = describe(line, frames, parts, script)
            if not text.startswith("[setup]"):
                phase = next((name for name, rule in PHASES[args.phases] if re.search(rule, text)), "other")
                seconds[phase] += weight
                stacks[f"{phase} <- {text}"] += weight
        iterations = max(counter.count - args.skip, 0)
        if args.out:
            args.out.write_text(json.dumps({"seconds": seconds, "iterations": iterations}, indent=1))
        sys.stdout = counter.stream
        total = sum(seconds.values()) or 1
        for phase, value in seconds.most_common():
            print(f"{phase:<45} {value:8.3f} s {100 * value / total:5.1f}%", file=sys.stderr)
        for text, value in stacks.most_common(args.top):
            print(f"{value:8.3f} s  {text}", file=sys.stderr)


if __name__ == "__main__":
    main()
