namespace GpuDistill.Training;

/// <summary>A module that a batch source trains, with its optimiser (both saved with the run's checkpoints).</summary>
/// <param name="Name">A short name for its checkpoint files, e.g. "generator".</param>
/// <param name="Module">The module.</param>
/// <param name="Optimizer">Its optimiser.</param>
public sealed record TrainedModule(string Name, TorchSharp.torch.nn.Module Module, TorchSharp.torch.optim.Optimizer Optimizer);
