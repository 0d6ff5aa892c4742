#!/usr/bin/env python3
"""The fused KL kernel's math as a PyTorch composite on the GPU, timed at the GPU bundle's sizes; prints JSON.

    loss = kl_div(log_softmax(s / T), softmax(t / T), reduction="batchmean") * T^2;  loss.backward()

is Hinton's KD as a PyTorch user writes it. One launch of GpuDistill's fused kernel computes the same per-row loss and
the gradient d loss / d s. Timing: CUDA events around samples of back-to-back steps after a warm-up, median per step.

    torch_reference.py [--sizes BxC,... | --bench-csv gpu-bench.csv] [--out torch.json] [--quick]
    torch_reference.py merge gpu-bench.csv torch.json comparison.csv     (run.sh: the table with the ratio)

The relation and attention-transfer kernels the same way, at the sizes the bundle timed (relations.csv), each as the
PyTorch composite of its reference codes (loss-spec 2.2, 3.1-3.3), teacher side under no_grad, forward + backward:

    torch_reference.py relations relations.csv torch-relations.json [--quick]
    torch_reference.py merge-relations relations.csv torch-relations.json relations-comparison.csv

Memory: torch.cuda.max_memory_allocated() during one step minus what was allocated before it (inputs), i.e. the
gradient and every intermediate; the bundle reports its scratch and scratch + outputs (gradient, per-row loss).
"""
import argparse
import csv
import json
import statistics
import sys
import zlib


def parse_sizes(text):
    sizes = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        rows, _, classes = entry.lower().partition("x")
        if not (rows.isdigit() and classes.isdigit()) or int(rows) <= 0 or int(classes) <= 0:
            raise SystemExit(f"--sizes: '{entry}' is not a size; expected ROWSxCLASSES, e.g. 4096x32000")
        sizes.append((int(rows), int(classes)))
    if not sizes:
        raise SystemExit("--sizes: no sizes given")
    return sizes


def bench_sizes(path):
    """The sizes the bundle measured: its best fused rows (skipped sizes have none)."""
    with open(path, newline="") as file:
        rows = [r for r in csv.DictReader(file) if r["kind"] == "fused-kl" and r["best"] == "1"]
    return ",".join(dict.fromkeys(r["size"] for r in rows))


def merge(bench_csv, torch_json, out_csv):
    """Prints the fused kernel's best time next to PyTorch's at each size, with PyTorch / fused, and writes a CSV."""
    with open(bench_csv, newline="") as file:
        bench = {r["size"]: r for r in csv.DictReader(file) if r["kind"] == "fused-kl" and r["best"] == "1"}
    with open(torch_json) as file:
        torch = json.load(file)
    print(f"fused KL (one launch) vs the PyTorch composite on {torch['device']} (torch {torch['torch']}):")
    print(f"  {torch['math']}; float32, T = {torch['temperature']:g}")
    print(f"{'size':<13} {'layout':<11} {'fused ms':>9} {'PyTorch ms':>11} {'PyTorch / fused':>16}")
    lines = ["size,layout,fused_ms,torch_ms,speedup,note"]
    for result in torch["results"]:
        size = result["size"]
        fused = bench.get(size)
        if fused is None:
            continue
        fused_ms = float(fused["median_ms"])
        if "median_ms" in result:
            ratio = result["median_ms"] / fused_ms
            print(f"{size:<13} {fused['layout']:<11} {fused_ms:9.3f} {result['median_ms']:11.3f} {ratio:15.2f}x")
            lines.append(f"{size},{fused['layout']},{fused_ms:.6g},{result['median_ms']:.6g},{ratio:.4g},")
        else:
            print(f"{size:<13} {fused['layout']:<11} {fused_ms:9.3f} {'-':>11} {'-':>16}  PyTorch: {result['error']}")
            lines.append(f"{size},{fused['layout']},{fused_ms:.6g},,,{result['error']}")
    with open(out_csv, "w") as file:
        file.write("\n".join(lines) + "\n")
    print(f"wrote {out_csv}")


def time_composite(torch, rows, classes, temperature, min_samples, min_seconds, max_seconds):
    import torch.nn.functional as F

    generator = torch.Generator(device="cuda").manual_seed(rows * 1_000_003 + classes)
    student = (torch.rand(rows, classes, device="cuda", generator=generator) * 20 - 10).requires_grad_(True)
    teacher = torch.rand(rows, classes, device="cuda", generator=generator) * 20 - 10

    def step():
        student.grad = None
        loss = F.kl_div(F.log_softmax(student / temperature, dim=1), F.softmax(teacher / temperature, dim=1),
                        reduction="batchmean") * (temperature * temperature)
        loss.backward()

    torch.cuda.reset_peak_memory_stats()
    samples, batch = sample_steps(torch, step, min_samples, min_seconds, max_seconds)
    samples.sort()
    quantile = lambda q: samples[min(len(samples) - 1, int(round(q * (len(samples) - 1))))]
    return {
        "median_ms": statistics.median(samples),
        "p20_ms": quantile(0.2),
        "p80_ms": quantile(0.8),
        "samples": len(samples),
        "steps_per_sample": batch,
        "peak_gb": torch.cuda.max_memory_allocated() / 1e9,
    }


RELATION_MATH = {
    "sp": "normalize(S S^T) vs normalize(T T^T), squared Frobenius / B^2",
    "rkd-distance": "pdist / mean positive pdist, smooth_l1 (mean over B^2)",
    "rkd-angle": "normalize(e_j - e_i) [B,B,D], bmm -> [B,B,B] angles, smooth_l1 (mean)",
    "fsp": "bmm(bottom, top^T) / HW, mse (mean over B C1 C2)",
    "at-loss": "normalize(f.pow(2).mean(1).view(B,-1)), (a_s - a_t)^2 mean",
}


def relation_step(torch, kernel, dims):
    """Inputs on the GPU and a function that runs one forward + backward of the composite."""
    import torch.nn.functional as F

    generator = torch.Generator(device="cuda").manual_seed(zlib.crc32(f"{kernel} {dims}".encode()))

    def uniform(*shape, grad=False):
        x = torch.rand(*shape, device="cuda", generator=generator) * 2 - 1
        return x.requires_grad_(grad)

    def pdist(e):
        sq = e.pow(2).sum(1)
        d = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * e @ e.t()).clamp(min=1e-12).sqrt()
        d = d.clone()
        d[range(len(e)), range(len(e))] = 0
        return d

    def angles(e):
        u = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)
        return torch.bmm(u, u.transpose(1, 2)).view(-1)

    if kernel in ("sp", "rkd-distance", "rkd-angle"):
        b, d = dims
        s, t = uniform(b, d, grad=True), uniform(b, d)
        students = [s]
        if kernel == "sp":
            def loss():
                gs = F.normalize(s @ s.t(), dim=1)
                with torch.no_grad():
                    gt = F.normalize(t @ t.t(), dim=1)
                return (gt - gs).pow(2).sum() / (b * b)
        elif kernel == "rkd-distance":
            def loss():
                with torch.no_grad():
                    td = pdist(t)
                    td = td / td[td > 0].mean()
                sd = pdist(s)
                sd = sd / sd[sd > 0].mean()
                return F.smooth_l1_loss(sd, td)
        else:
            def loss():
                with torch.no_grad():
                    ta = angles(t)
                return F.smooth_l1_loss(angles(s), ta)
    elif kernel == "fsp":
        b, c1, c2, h, w = dims
        sb, st = uniform(b, c1, h, w, grad=True), uniform(b, c2, h, w, grad=True)
        tb, tt = uniform(b, c1, h, w), uniform(b, c2, h, w)
        students = [sb, st]

        def flow(bottom, top):
            return torch.bmm(top.flatten(2), bottom.flatten(2).transpose(1, 2)) / (h * w)

        def loss():
            with torch.no_grad():
                gt = flow(tb, tt)
            return (flow(sb, st) - gt).pow(2).mean()
    elif kernel == "at-loss":
        b, c, h, w = dims
        s, t = uniform(b, c, h, w, grad=True), uniform(b, c, h, w)
        students = [s]

        def attention(x):
            return F.normalize(x.pow(2).mean(1).view(x.size(0), -1))

        def loss():
            with torch.no_grad():
                at = attention(t)
            return (attention(s) - at).pow(2).mean()
    else:
        raise SystemExit(f"unknown kernel '{kernel}' in the relations CSV")

    def step():
        for x in students:
            x.grad = None
        loss().backward()

    return step, students


def sample_steps(torch, step, min_samples, min_seconds, max_seconds):
    """ms per step, one sample per run of back-to-back steps timed by CUDA events after a warm-up; and the run length."""
    def run(count):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(count):
            step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / count

    step()
    torch.cuda.synchronize()
    single = run(1)
    batch = max(1, min(1000, int(5.0 / max(single, 1e-3)) + 1))
    samples, elapsed = [], 0.0
    while len(samples) < 50 and (len(samples) < min_samples or elapsed < min_seconds * 1000) \
            and not (len(samples) >= min_samples and elapsed > max_seconds * 1000):
        per_step = run(batch)
        samples.append(per_step)
        elapsed += per_step * batch
    return samples, batch


def time_step(torch, step, min_samples, min_seconds, max_seconds):
    """Median ms per step (see sample_steps), the number of samples and the steps per sample."""
    samples, batch = sample_steps(torch, step, min_samples, min_seconds, max_seconds)
    return statistics.median(samples), len(samples), batch


def relations(bench_csv, out_json, quick):
    with open(bench_csv, newline="") as file:
        cases = [(r["kernel"], r["size"]) for r in csv.DictReader(file) if r["median_ms"]]
    import torch
    if not torch.cuda.is_available():
        raise SystemExit("PyTorch sees no CUDA device")
    oom = getattr(torch.cuda, "OutOfMemoryError", RuntimeError)
    min_samples, min_seconds, max_seconds = (3, 0.0, 0.5) if quick else (7, 0.3, 3.0)
    results = []
    for kernel, size in cases:
        result = {"kernel": kernel, "size": size, "math": RELATION_MATH.get(kernel, "")}
        try:
            step, students = relation_step(torch, kernel, [int(d) for d in size.split("x")])
            step()
            torch.cuda.synchronize()
            for x in students:
                x.grad = None
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            step()
            torch.cuda.synchronize()
            result["memory_bytes"] = torch.cuda.max_memory_allocated() - before
            result["median_ms"], result["samples"], result["steps_per_sample"] = time_step(
                torch, step, min_samples, min_seconds, max_seconds)
            print(f"  {kernel:<13} {size:<16} {result['median_ms']:.3f} ms", file=sys.stderr)
            del step, students
        except oom as error:
            if "out of memory" not in str(error).lower():
                raise
            result["error"] = "out of memory"
            print(f"  {kernel:<13} {size:<16} out of memory", file=sys.stderr)
        results.append(result)
        torch.cuda.empty_cache()
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
              "results": results}
    with open(out_json, "w") as file:
        file.write(json.dumps(report, indent=2) + "\n")


def merge_relations(bench_csv, torch_json, out_csv):
    """The bundle's time and memory next to PyTorch's for each relation size, with PyTorch / fused."""
    with open(bench_csv, newline="") as file:
        bench = {(r["kernel"], r["size"]): r for r in csv.DictReader(file) if r["median_ms"]}
    with open(torch_json) as file:
        torch = json.load(file)
    print(f"relation and AT kernels vs the PyTorch composites on {torch['device']} (torch {torch['torch']}), forward + backward:")
    print(f"{'kernel':<13} {'size':<16} {'ours ms':>9} {'PyTorch ms':>11} {'PyTorch/ours':>13} {'ours MB':>9} {'PyTorch MB':>11}")
    lines = ["kernel,size,ours_ms,torch_ms,speedup,ours_scratch_bytes,ours_scratch_and_output_bytes,torch_memory_bytes,note"]
    for result in torch["results"]:
        key = (result["kernel"], result["size"])
        ours = bench.get(key)
        if ours is None:
            continue
        ms = float(ours["median_ms"])
        scratch = int(ours["scratch_bytes"])
        extra = scratch + int(ours["output_bytes"])
        if "median_ms" in result:
            ratio = result["median_ms"] / ms
            print(f"{key[0]:<13} {key[1]:<16} {ms:9.3f} {result['median_ms']:11.3f} {ratio:12.2f}x "
                  f"{extra / 1e6:9.1f} {result['memory_bytes'] / 1e6:11.1f}")
            lines.append(f"{key[0]},{key[1]},{ms:.6g},{result['median_ms']:.6g},{ratio:.4g},{scratch},{extra},"
                         f"{result['memory_bytes']},")
        else:
            print(f"{key[0]:<13} {key[1]:<16} {ms:9.3f} {'-':>11} {'-':>13} {extra / 1e6:9.1f} {'-':>11}  PyTorch: {result['error']}")
            lines.append(f"{key[0]},{key[1]},{ms:.6g},,,{scratch},{extra},,{result['error']}")
    print("(ours MB: scratch + gradient + per-row loss; PyTorch MB: peak allocated during one step above the inputs)")
    with open(out_csv, "w") as file:
        file.write("\n".join(lines) + "\n")
    print(f"wrote {out_csv}")



def main():
    if len(sys.argv) > 1 and sys.argv[1] == "merge":
        if len(sys.argv) != 5:
            raise SystemExit("usage: torch_reference.py merge gpu-bench.csv torch.json comparison.csv")
        merge(*sys.argv[2:5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "relations":
        if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and sys.argv[4] != "--quick"):
            raise SystemExit("usage: torch_reference.py relations relations.csv torch-relations.json [--quick]")
        relations(sys.argv[2], sys.argv[3], len(sys.argv) == 5)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "merge-relations":
        if len(sys.argv) != 5:
            raise SystemExit("usage: torch_reference.py merge-relations relations.csv torch-relations.json relations-comparison.csv")
        merge_relations(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="4096x1000,256x32000,64x128256,4096x32000,16384x32000,4096x131072,16384x131072")
    parser.add_argument("--bench-csv", help="time the sizes this gpu-bench.csv measured (instead of --sizes)")
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--quick", action="store_true", help="short measurements")
    options = parser.parse_args()
    sizes = parse_sizes(bench_sizes(options.bench_csv) if options.bench_csv else options.sizes)

    import torch
    if not torch.cuda.is_available():
        raise SystemExit("PyTorch sees no CUDA device")
    oom = getattr(torch.cuda, "OutOfMemoryError", RuntimeError)
    min_samples, min_seconds, max_seconds = (3, 0.0, 0.5) if options.quick else (7, 0.3, 3.0)

    results = []
    for rows, classes in sizes:
        size = f"{rows}x{classes}"
        try:
            result = {"size": size, "rows": rows, "classes": classes}
            result.update(time_composite(torch, rows, classes, options.temperature, min_samples, min_seconds, max_seconds))
            print(f"  {size:<13} {result['median_ms']:.3f} ms (peak {result['peak_gb']:.1f} GB)", file=sys.stderr)
        except oom as error:
            if "out of memory" not in str(error).lower():
                raise
            result = {"size": size, "rows": rows, "classes": classes, "error": "out of memory"}
            print(f"  {size:<13} out of memory", file=sys.stderr)
        results.append(result)
        torch.cuda.empty_cache()

    report = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "temperature": options.temperature,
        "math": "kl_div(log_softmax(s/T), softmax(t/T), batchmean) * T^2, backward",
        "results": results,
    }
    text = json.dumps(report, indent=2)
    if options.out:
        with open(options.out, "w") as file:
            file.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
