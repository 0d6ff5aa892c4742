#!/usr/bin/python3
"""The training steps of GpuDistill's train-step benchmark, written in plain PyTorch: the side-by-side peer.

Same models as src/GpuDistill/Models (StagedCnn: three stages of (3x3 conv without bias, BatchNorm2d, ReLU) x2, 2x2
max pool after stages 1 and 2, global average pool, dropout, linear head; small-cnn 8/16/32 without dropout,
teacher-cnn 32/64/128 with dropout 0.3; convolutions He-uniform, linear layers PyTorch's default, batch norm 1/0), the
same step (SGD lr 0.01, Nesterov momentum 0.9, weight decay 5e-4; gradients set to None before backward), batch 128 of
random images, the same thread count. Times, in interleaved rounds so a shared machine's load falls on all alike:
  ce:      small-cnn forward + cross-entropy + backward + SGD step
  kd:      teacher-cnn forward under no_grad (eval mode) + small-cnn step with 0.9 T^2 KL(batchmean, T = 4) + 0.1 CE
  teacher: teacher-cnn forward alone under no_grad (eval mode)
Prints one JSON object: medians and 20th/80th percentiles in ms, images per second of the medians, and the median of
each phase (teacher forward; student forward with the loss; zero_grad and backward; optimizer step).

Usage: /usr/bin/python3 perf/step/torch_step.py [--threads 2] [--steps 200] [--warmup 20] [--batch 128]
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class StagedCnn(nn.Module):
    def __init__(self, w1, w2, w3, dropout, seed):
        super().__init__()
        self.stage1 = self._stage(1, w1, pool=True)
        self.stage2 = self._stage(w1, w2, pool=True)
        self.stage3 = self._stage(w2, w3, pool=False)
        self.head = nn.Linear(w3, 10)
        self.dropout = dropout
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
                    m.weight.uniform_(-math.sqrt(6.0 / fan_in), math.sqrt(6.0 / fan_in), generator=generator)
                elif isinstance(m, nn.Linear):
                    bound = 1 / math.sqrt(m.in_features)
                    m.weight.uniform_(-bound, bound, generator=generator)
                    m.bias.uniform_(-bound, bound, generator=generator)

    @staticmethod
    def _stage(cin, width, pool):
        layers = [nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                  nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        if pool:
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers)

    def forward(self, x):
        s1 = self.stage1(x)
        s2 = self.stage2(s1)
        s3 = self.stage3(s2)
        pooled = s3.mean([2, 3])
        dropped = F.dropout(pooled, self.dropout, training=True) if self.training and self.dropout > 0 else pooled
        return self.head(dropped), pooled, (s1, s2, s3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=4.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    student = StagedCnn(8, 16, 32, 0.0, seed=1).train()
    teacher = StagedCnn(32, 64, 128, 0.3, seed=2).eval()
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    images = torch.randn(args.batch, 1, 28, 28)
    labels = torch.randint(0, 10, (args.batch,))
    t = args.temperature

    clock = time.perf_counter

    def step(loss_of_logits, marks):
        logits = student(images)[0]
        loss = loss_of_logits(logits)
        marks.append(clock())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(clock())
        optimizer.step()

    def ce_step(marks):
        step(lambda logits: F.cross_entropy(logits, labels), marks)

    def kd_step(marks):
        with torch.no_grad():
            teacher_logits = teacher(images)[0]
        marks.append(clock())
        step(lambda logits: 0.9 * t * t * F.kl_div(F.log_softmax(logits / t, 1), F.log_softmax(teacher_logits / t, 1),
                                                     reduction="batchmean", log_target=True)
             + 0.1 * F.cross_entropy(logits, labels), marks)

    def teacher_forward(marks):
        with torch.no_grad():
            teacher(images)

    # Each action appends a timestamp at the end of each of its phases but the last, which ends when it has returned
    # (and freed its tensors).
    actions = {"ce": (ce_step, ["forward", "backward", "optimizer"]),
               "kd": (kd_step, ["teacher_forward", "forward", "backward", "optimizer"]),
               "teacher": (teacher_forward, ["forward"])}
    for _ in range(args.warmup):
        for action, _ in actions.values():
            action([])
    samples = {name: {"total": []} | {phase: [] for phase in phases} for name, (_, phases) in actions.items()}
    for _ in range(args.steps):
        for name, (action, phases) in actions.items():
            marks = [clock()]
            action(marks)
            marks.append(clock())
            samples[name]["total"].append((marks[-1] - marks[0]) * 1e3)
            for i, phase in enumerate(phases):
                samples[name][phase].append((marks[i + 1] - marks[i]) * 1e3)

    def quantile(values, q):
        values = sorted(values)
        position = q * (len(values) - 1)
        low = int(math.floor(position))
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "steps": args.steps,
        "load_average": list(os.getloadavg()),
    }
    for name, phases in samples.items():
        median = quantile(phases["total"], 0.5)
        result[name] = {"median_ms": median, "p20_ms": quantile(phases["total"], 0.2),
                        "p80_ms": quantile(phases["total"], 0.8), "images_per_second": args.batch / (median / 1e3),
                        "phases_median_ms": {phase: quantile(v, 0.5) for phase, v in phases.items() if phase != "total"}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
