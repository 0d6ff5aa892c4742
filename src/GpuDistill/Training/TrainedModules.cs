namespace GpuDistill.Training;

/// <summary>Saves and loads modules that a batch source trains, each with its optimiser (checkpoint files ending in .pt).</summary>
public static class TrainedModules
{
    /// <summary>Writes each module's weights and optimiser state atomically as <c>PREFIX.NAME.pt</c> and
    /// <c>PREFIX.NAME-optimizer.pt</c>, and returns the file names.</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="prefix">The epoch's prefix.</param>
    /// <param name="modules">The modules.</param>
    /// <returns>The files written.</returns>
    public static List<string> Save(string directory, string prefix, IEnumerable<TrainedModule> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        var files = new List<string>();
        foreach ((string name, TorchSharp.torch.nn.Module module, TorchSharp.torch.optim.Optimizer optimizer) in modules)
        {
            string weights = $"{prefix}.{name}.pt", state = $"{prefix}.{name}-optimizer.pt";
            Models.Checkpoint.SaveAtomic(module, Path.Combine(directory, weights));
            AtomicFile.Write(Path.Combine(directory, state), writer => ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(writer));
            files.Add(weights);
            files.Add(state);
        }
        return files;
    }

    /// <summary>Reads back what <see cref="Save"/> wrote, finding each module's files by name among <paramref name="files"/>.</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="files">The files the checkpoint lists.</param>
    /// <param name="modules">The modules to restore.</param>
    /// <exception cref="InvalidDataException">A file is missing.</exception>
    public static void Load(string directory, IReadOnlyList<string> files, IEnumerable<TrainedModule> modules)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(modules);
        foreach ((string name, TorchSharp.torch.nn.Module module, TorchSharp.torch.optim.Optimizer optimizer) in modules)
        {
            string weights = Find(files, $".{name}.pt"), state = Find(files, $".{name}-optimizer.pt");
            if (!Models.Checkpoint.TryLoad(module, Path.Combine(directory, weights)))
                throw new InvalidDataException($"The checkpoint names '{weights}', which is missing.");
            using var reader = new BinaryReader(File.OpenRead(Path.Combine(directory, state)));
            ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(reader);
        }
    }

    /// <summary>The file among <paramref name="files"/> that ends in <paramref name="suffix"/>.</summary>
    /// <exception cref="InvalidDataException">None does.</exception>
    public static string Find(IReadOnlyList<string> files, string suffix)
    {
        ArgumentNullException.ThrowIfNull(files);
        return files.FirstOrDefault(f => f.EndsWith(suffix, StringComparison.Ordinal))
            ?? throw new InvalidDataException($"The checkpoint's batch-source files ({string.Join(", ", files)}) hold no '*{suffix}'.");
    }
}
