namespace GpuDistill.Models;

/// <summary>How <see cref="ImageGenerator"/> finishes its images.</summary>
public enum GeneratorOutput
{
    /// <summary>
    /// tanh mapped onto the pixel range [0, 1], then normalised as the data loader normalises real images
    /// ((pixel - mean) / std): generated and real images share one value range, and a generated image is a picture.
    /// </summary>
    Pixels,

    /// <summary>
    /// tanh, then a batch norm without weight and bias, as DAFL's and DFAD's reference generators end (loss-spec-2
    /// 7.1): each batch comes out with zero mean and unit variance per channel, the statistics of normalised data.
    /// </summary>
    BatchNormalized,
}
