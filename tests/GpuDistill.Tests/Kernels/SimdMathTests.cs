using System.Runtime.Intrinsics;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Kernels;

/// <summary>The host backend's vector exp, log1p and softplus against float64, and its partial loads and stores.</summary>
public sealed class SimdMathTests
{
    [Test]
    public void ExpIsWithinTwoUlpOfDoubleOverTheNormalRange()
    {
        Random random = RandomData.NewRandom();
        double worst = 0;
        for (int i = 0; i < 200_000; i++)
        {
            float x = (float)(random.NextDouble() * 175 - 87);
            double expected = Math.Exp(x);
            float actual = SimdMath.Exp(Vector256.Create(x)).ToScalar();
            worst = Math.Max(worst, Math.Abs(actual - expected) / expected);
        }
        Assert.That(worst, Is.LessThan(2.4e-7), "relative error (2 ulp of float is 2.4e-7)");
    }

    [Test]
    public void ExpEdgeCases()
    {
        Vector256<float> x = Vector256.Create(0f, -87.4f, -1e5f, float.NegativeInfinity, -87.3f, 88f, 1f, -1f);
        float[] result = new float[8];
        SimdMath.Exp(x).CopyTo(result);
        Assert.Multiple(() =>
        {
            Assert.That(result[0], Is.EqualTo(1f));
            Assert.That(result[1], Is.Zero, "below float's normal range exp is exactly 0");
            Assert.That(result[2], Is.Zero);
            Assert.That(result[3], Is.Zero);
            Assert.That(result[4], Is.EqualTo(Math.Exp(-87.3f)).Within(2.4e-7 * Math.Exp(-87.3f)), "just above the underflow");
            Assert.That(result[5], Is.EqualTo(Math.Exp(88f)).Within(2.4e-7 * Math.Exp(88f)), "near the top of the float range");
            Assert.That(result[6], Is.EqualTo(Math.E).Within(2.4e-7 * Math.E));
            Assert.That(result[7], Is.EqualTo(1 / Math.E).Within(2.4e-7 / Math.E));
        });
    }

    [Test]
    public void SoftplusMatchesDouble()
    {
        Random random = RandomData.NewRandom();
        for (int i = 0; i < 20_000; i++)
        {
            float x = (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, random.Next(-9, 3)));
            SimdMath.Softplus(Vector256.Create(x), out Vector256<float> ofX, out Vector256<float> ofMinusX);
            double y = Math.Exp(-Math.Abs((double)x));
            double tail = y < 1e-8 ? y * (1 - y / 2) : Math.Log(1 + y); // log1p: 1 + y would round y away
            double expectedOfX = Math.Max(x, 0) + tail, expectedOfMinusX = Math.Max(-x, 0) + tail;
            // Below float's normal range (1.2e-38) exp, and so softplus, is exactly 0 by design.
            Assert.That(ofX.ToScalar(), Is.EqualTo(expectedOfX).Within(4e-7 * expectedOfX + 1.2e-38), $"softplus({x})");
            Assert.That(ofMinusX.ToScalar(), Is.EqualTo(expectedOfMinusX).Within(4e-7 * expectedOfMinusX + 1.2e-38), $"softplus(-{x})");
        }
    }

    [Test]
    public void Log1PKeepsTinyArguments()
    {
        float[] result = new float[8];
        SimdMath.Log1P(Vector256.Create(1e-30f, 1e-10f, 1e-7f, 0f, 0.5f, 1f, 3f, 1e6f)).CopyTo(result);
        double[] inputs = [1e-30f, 1e-10f, 1e-7f, 0f, 0.5f, 1f, 3f, 1e6f];
        for (int i = 0; i < 8; i++)
        {
            double expected = inputs[i] < 1e-5 ? inputs[i] - inputs[i] * inputs[i] / 2 : Math.Log(1 + inputs[i]);
            Assert.That(result[i], Is.EqualTo(expected).Within(3e-7 * expected), $"log1p({inputs[i]})");
        }
    }

    [Test]
    public unsafe void PartialLoadsPadAndPartialStoresStopAtTheCount([Range(1, 8)] int count)
    {
        float* source = stackalloc float[8];
        float* target = stackalloc float[8];
        for (int i = 0; i < 8; i++)
        {
            source[i] = i + 1;
            target[i] = -1;
        }
        Vector256<float> loaded = SimdMath.Load(source, count, 99f);
        SimdMath.Store(target, loaded, count);
        Vector256<float> kept = SimdMath.KeepFirst(loaded, count);
        for (int i = 0; i < 8; i++)
        {
            Assert.That(loaded.GetElement(i), Is.EqualTo(i < count ? i + 1 : 99f), $"lane {i}");
            Assert.That(target[i], Is.EqualTo(i < count ? i + 1 : -1f), $"stored lane {i}");
            Assert.That(kept.GetElement(i), Is.EqualTo(i < count ? i + 1 : 0f), $"kept lane {i}");
        }
    }
}
