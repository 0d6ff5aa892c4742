using System.Globalization;
using GpuDistill.Compute;

namespace GpuDistill.GpuBench;

/// <summary>The command line of gpudistill-gpubench.</summary>
/// <param name="SelfCheckOnly">Run the self-check and stop.</param>
/// <param name="Device">cpu or cuda; null for the mode's default (self-check: cpu and cuda when present; benchmark: cuda).</param>
/// <param name="Sizes">Benchmark sizes.</param>
/// <param name="OutputDirectory">Where the CSV goes.</param>
/// <param name="Seed">Seed of the self-check's inputs.</param>
/// <param name="CopyBytes">Bytes per buffer of the copy-bandwidth measurement.</param>
/// <param name="Quick">Short measurements, and without <c>--sizes</c> the KL sweep without its biggest sizes.</param>
/// <param name="Relations">The relation and attention-transfer timings (empty: none).</param>
/// <param name="Checks">Kernel families whose checks run (null: all; empty: none).</param>
/// <param name="ChecksOnly">Run the kernel checks on the device and stop (run.sh runs them as a stage of their own).</param>
public sealed record BenchOptions(bool SelfCheckOnly, AcceleratorKind? Device, IReadOnlyList<BenchSize> Sizes,
    string OutputDirectory, int Seed, long CopyBytes, bool Quick, IReadOnlyList<RelationCase> Relations,
    IReadOnlySet<string>? Checks = null, bool ChecksOnly = false)
{
    /// <summary>Whether <paramref name="check"/> runs under <see cref="Checks"/>.</summary>
    /// <param name="check">A check.</param>
    /// <returns>True when it runs.</returns>
    public bool Includes(KernelCheck check)
    {
        ArgumentNullException.ThrowIfNull(check);
        return Checks is null || Checks.Contains(check.Kernel);
    }

    /// <summary>The usage text.</summary>
    public static string Usage => $$"""
        gpudistill-gpubench: every GpuDistill kernel on a GPU against the float64 references, the fused KL kernel
        against the device's copy bandwidth and the streaming floor, and the relation and attention-transfer timings.

          gpudistill-gpubench --self-check [--device cpu|cuda]   check every kernel family on the CPU accelerator (and
                                                                 CUDA when present); exit 1 on a mismatch
          gpudistill-gpubench [options]                          on CUDA: the kernel checks, copy bandwidth, fused KL
                                                                 timings, relation and attention-transfer timings

        options:
          --sizes BxC,...   benchmark sizes (default 4096x1000,256x32000,64x128256,4096x32000,16384x32000,
                            4096x131072,16384x131072; a size that does not fit in free memory is skipped)
          --out DIR         where the CSVs go: checks.csv, gpu-bench.csv, relations.csv (default gpu-bench-results)
          --device KIND     cuda (default) or cpu (a smoke run of the same code on the CPU accelerator)
          --seed N          seed of the self-check inputs (default: fresh, printed)
          --copy-mb N       MB per buffer of the copy measurement (default 2048)
          --quick           short measurements; without --sizes, the KL sweep up to 4096x32000 only
          --checks LIST     kernel families to check: all (default), none, or names joined by commas, e.g.
                            softmax-kl,rkd-angle (families: {{string.Join(' ', Families)}})
          --checks-only     on the device: the kernel checks, then stop
          --families        print the kernel families, one line, and stop
          --relations SET   default (SP, RKD distance and angle, FSP, AT at the issue-5 sizes), smoke (tiny sizes)
                            or none
        exit codes: 0 all matched, 1 a result did not match the reference, 2 bad arguments, 3 no CUDA device
        """;

    /// <summary>Every kernel family the checks cover, in their order (the row losses come from RowLossCase.All).</summary>
    public static IReadOnlyList<string> Families => [.. KernelChecks.All.Select(c => c.Kernel).Distinct()];

    /// <summary>Parses the arguments.</summary>
    /// <param name="args">The command line.</param>
    /// <returns>The options.</returns>
    /// <exception cref="ArgumentException">For a bad value (the option is the parameter name) or an unknown option ("args").</exception>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool selfCheck = false, quick = false, checksOnly = false;
        IReadOnlySet<string>? checks = null;
        AcceleratorKind? device = null;
        IReadOnlyList<BenchSize>? sizes = null;
        IReadOnlyList<RelationCase> relations = RelationCase.Default;
        string output = "gpu-bench-results";
        int seed = Random.Shared.Next();
        long copyBytes = 2L << 30;
        for (int i = 0; i < args.Count; i++)
        {
            string option = args[i];
            switch (option)
            {
                case "--self-check": selfCheck = true; break;
                case "--quick": quick = true; break;
                case "--checks-only": checksOnly = true; break;
                case "--checks": checks = ParseChecks(Value(args, ref i), option); break;
                case "--device":
                    device = Value(args, ref i).ToUpperInvariant() switch
                    {
                        "CPU" => AcceleratorKind.Cpu,
                        "CUDA" => AcceleratorKind.Cuda,
                        string other => throw new ArgumentException($"--device: '{other}' is not a device; expected cpu or cuda.", option),
                    };
                    break;
                case "--sizes": sizes = BenchSize.ParseList(Value(args, ref i), "--sizes"); break;
                case "--out": output = Value(args, ref i); break;
                case "--seed": seed = PositiveInt(args, ref i, allowZero: true); break;
                case "--copy-mb": copyBytes = PositiveInt(args, ref i, allowZero: false) * (1L << 20); break;
                case "--relations":
                    relations = Value(args, ref i).ToUpperInvariant() switch
                    {
                        "DEFAULT" => RelationCase.Default,
                        "SMOKE" => RelationCase.Smoke,
                        "NONE" => [],
                        string other => throw new ArgumentException($"--relations: '{other}' is not a set; expected default, smoke or none.", option),
                    };
                    break;
                default:
                    throw new ArgumentException($"unknown option '{option}'; run with --help for the options.", nameof(args));
            }
        }
        return new BenchOptions(selfCheck, device, sizes ?? (quick ? BenchSize.Quick : BenchSize.Default), output, seed,
            copyBytes, quick, relations, checks, checksOnly);
    }

    private static HashSet<string>? ParseChecks(string text, string option)
    {
        if (text.Equals("all", StringComparison.OrdinalIgnoreCase)) return null;
        if (text.Equals("none", StringComparison.OrdinalIgnoreCase)) return [];
        var known = KernelChecks.All.Select(c => c.Kernel).ToHashSet(StringComparer.Ordinal);
        var families = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(f => f.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
        string? unknown = families.FirstOrDefault(f => !known.Contains(f));
        if (unknown is not null || families.Count == 0)
            throw new ArgumentException($"{option}: '{unknown ?? text}' is not a kernel family; expected all, none or some of {string.Join(", ", known)}.", option);
        return families;
    }

    private static string Value(IReadOnlyList<string> args, ref int i)
    {
        string option = args[i];
        if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            throw new ArgumentException($"{option} needs a value; run with --help for the options.", option);
        return args[++i];
    }

    private static int PositiveInt(IReadOnlyList<string> args, ref int i, bool allowZero)
    {
        string option = args[i];
        string text = Value(args, ref i);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || (!allowZero && value == 0))
            throw new ArgumentException($"{option}: '{text}' is not a {(allowZero ? "non-negative" : "positive")} integer.", option);
        return value;
    }
}
