using GpuDistill.Methods;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.References;

/// <summary>
/// MHGD's stage-2 loss in float64, written plainly from the definitions with loops: each example's dominant right
/// singular vector by Jacobi rotations of X^T X, the student's width maps, the frozen attention head with running
/// statistics, and the summed KL between the tanh-squashed graph rows. Weights are read from a network.
/// </summary>
public static class MultiHeadGraphReference
{
    /// <summary>A fully connected layer: weight [Out, In] row-major and bias [Out].</summary>
    public sealed record Dense(double[] Weight, double[]? Bias, int In, int Out)
    {
        public double[] Apply(ReadOnlySpan<double> x)
        {
            var y = new double[Out];
            for (int o = 0; o < Out; o++)
            {
                double sum = Bias?[o] ?? 0;
                for (int i = 0; i < In; i++) sum += Weight[o * In + i] * x[i];
                y[o] = sum;
            }
            return y;
        }
    }

    /// <summary>A shift-only batch norm with running statistics.</summary>
    public sealed record Norm(double[] Shift, double[] Mean, double[] Variance)
    {
        public double[] Apply(double[] x) =>
            [.. x.Select((v, f) => (v - Mean[f]) / Math.Sqrt(Variance[f] + CenteredNorm.Epsilon) + Shift[f])];
    }

    /// <summary>One pair's attention head.</summary>
    public sealed record Head(Dense Sender, Norm SenderNorm, Dense Receiver, Norm ReceiverNorm, int Heads, int Width);

    /// <summary>The whole network's weights.</summary>
    public sealed record Weights(Head[] Heads, Dense?[] Maps);

    /// <summary>Copies a network's weights to float64.</summary>
    public static Weights From(MultiHeadGraphNetwork network)
    {
        Head[] heads = [.. network.Graphs.Select(g =>
        {
            var (sender, senderNorm, receiver, receiverNorm) = g.Head;
            return new Head(Read(sender, true), Read(senderNorm), Read(receiver, true), Read(receiverNorm), g.Heads, (int)g.HeadWidth);
        })];
        return new Weights(heads, [.. network.Maps.Select(m => m is null ? null : Read(m, false))]);
    }

    /// <summary>The loss for one batch; layers are flat NCHW (or [B, D]) arrays with their shapes.</summary>
    public static double Loss(Weights weights, double[][] student, MapShape[] studentShapes, double[][] teacher, MapShape[] teacherShapes)
    {
        int batch = studentShapes[0].Batch;
        double[][][] s = new double[student.Length][][];
        double[][][] t = new double[teacher.Length][][];
        for (int k = 0; k < student.Length; k++)
        {
            s[k] = new double[batch][];
            t[k] = new double[batch][];
            for (int b = 0; b < batch; b++)
            {
                double[] v = TopVector(student[k], studentShapes[k], b);
                if (weights.Maps[k] is Dense map) v = Unit(map.Apply(v));
                s[k][b] = v;
                t[k][b] = TopVector(teacher[k], teacherShapes[k], b);
            }
        }
        double loss = 0;
        for (int k = 0; k < weights.Heads.Length; k++)
            loss += Divergence(Graph(weights.Heads[k], s[k + 1], s[k]), Graph(weights.Heads[k], t[k + 1], t[k]));
        return loss;
    }

    /// <summary>G[h][i, j] = sender_h(current_i) . receiver_h(previous_j), features laid out head-major.</summary>
    public static double[][,] Graph(Head head, double[][] current, double[][] previous)
    {
        int batch = current.Length;
        double[][] senders = [.. current.Select(x => head.SenderNorm.Apply(Relu(head.Sender.Apply(x))))];
        double[][] receivers = [.. previous.Select(x => head.ReceiverNorm.Apply(Relu(head.Receiver.Apply(x))))];
        var graphs = new double[head.Heads][,];
        for (int h = 0; h < head.Heads; h++)
        {
            graphs[h] = new double[batch, batch];
            for (int i = 0; i < batch; i++)
            {
                for (int j = 0; j < batch; j++)
                {
                    double dot = 0;
                    for (int d = 0; d < head.Width; d++) dot += senders[i][h * head.Width + d] * receivers[j][h * head.Width + d];
                    graphs[h][i, j] = dot;
                }
            }
        }
        return graphs;
    }

    /// <summary>Sum over heads and rows of KL(softmax(tanh(G_s - m)) || softmax(tanh(G_t - m))), m the teacher's row mean.</summary>
    public static double Divergence(double[][,] student, double[][,] teacher)
    {
        double total = 0;
        for (int h = 0; h < student.Length; h++)
        {
            int batch = student[h].GetLength(0);
            for (int i = 0; i < batch; i++)
            {
                double mean = 0;
                for (int j = 0; j < batch; j++) mean += teacher[h][i, j] / batch;
                double[] a = new double[batch], b = new double[batch];
                for (int j = 0; j < batch; j++)
                {
                    a[j] = Math.Tanh(student[h][i, j] - mean);
                    b[j] = Math.Tanh(teacher[h][i, j] - mean);
                }
                double[] logP = ReferenceMath.LogSoftmax(a, 1), logQ = ReferenceMath.LogSoftmax(b, 1);
                for (int j = 0; j < batch; j++) total += Math.Exp(logP[j]) * (logP[j] - logQ[j]);
            }
        }
        return total;
    }

    /// <summary>
    /// Example <paramref name="b"/>'s unit vector: for [B, C, H, W] the eigenvector of X^T X ([C, C], X the map as
    /// [H*W, C]) with the largest eigenvalue, signed so its sum is &gt;= 0; for [B, D] (MapShape(B, D, 0, 0)) the row over its norm.
    /// </summary>
    public static double[] TopVector(double[] layer, MapShape shape, int b)
    {
        if (IsRows(shape)) return Unit(layer.AsSpan(b * shape.Channels, shape.Channels).ToArray());
        int c = shape.Channels, hw = shape.Height * shape.Width, size = c * hw;
        var m = new double[c, c];
        for (int i = 0; i < c; i++)
        {
            for (int j = 0; j < c; j++)
            {
                double sum = 0;
                for (int p = 0; p < hw; p++) sum += layer[b * size + i * hw + p] * layer[b * size + j * hw + p];
                m[i, j] = sum;
            }
        }
        (double[] values, double[,] vectors) = Jacobi(m);
        int top = Array.IndexOf(values, values.Max());
        if (values[top] <= 1e-30) return new double[c];
        double[] v = [.. Enumerable.Range(0, c).Select(i => vectors[i, top])];
        double norm = Math.Sqrt(v.Sum(x => x * x));
        double sign = v.Sum() >= 0 ? 1 : -1;
        return [.. v.Select(x => sign * x / norm)];
    }

    /// <summary>A layer of rows [B, D] is written as MapShape(B, D, 0, 0).</summary>
    public static bool IsRows(MapShape shape) => shape.Height == 0 && shape.Width == 0;

    /// <summary>The tensor dimensions of a layer shape ([B, D] for rows).</summary>
    public static long[] Dims(MapShape shape) => IsRows(shape) ? [shape.Batch, shape.Channels] : shape.Dims;

    /// <summary>Elements of a layer.</summary>
    public static int Count(MapShape shape) => IsRows(shape) ? shape.Batch * shape.Channels : shape.Count;

    /// <summary>Eigenvalues and eigenvectors (columns) of a symmetric matrix by cyclic Jacobi rotations.</summary>
    public static (double[] Values, double[,] Vectors) Jacobi(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        var a = (double[,])matrix.Clone();
        var v = new double[n, n];
        for (int i = 0; i < n; i++) v[i, i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, scale = 0;
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    if (i != j) off += a[i, j] * a[i, j];
                    else scale += a[i, j] * a[i, j];
                }
            }
            if (off <= 1e-30 * scale || off == 0) break;
            for (int p = 0; p < n; p++)
            {
                for (int q = p + 1; q < n; q++)
                {
                    if (a[p, q] == 0) continue;
                    double theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double cos = 1 / Math.Sqrt(t * t + 1), sin = t * cos;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = cos * akp - sin * akq;
                        a[k, q] = sin * akp + cos * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = cos * apk - sin * aqk;
                        a[q, k] = sin * apk + cos * aqk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = cos * vkp - sin * vkq;
                        v[k, q] = sin * vkp + cos * vkq;
                    }
                }
            }
        }
        return ([.. Enumerable.Range(0, n).Select(i => a[i, i])], v);
    }

    private static double[] Relu(double[] x) => [.. x.Select(v => Math.Max(v, 0))];

    private static double[] Unit(double[] x)
    {
        double norm = Math.Sqrt(x.Sum(v => v * v));
        return [.. x.Select(v => v / Math.Max(norm, 1e-12))];
    }

    private static Dense Read(TorchSharp.Modules.Linear layer, bool bias) => new(
        Doubles(layer.weight!), bias ? Doubles(layer.bias!) : null, (int)layer.weight!.shape[1], (int)layer.weight!.shape[0]);

    private static Norm Read(CenteredNorm norm) => new(Doubles(norm.Shift), Doubles(norm.RunningMean), Doubles(norm.RunningVariance));

    private static double[] Doubles(Tensor t) => ReferenceMath.ToDouble(TensorData.ToArray(t.detach()));
}
