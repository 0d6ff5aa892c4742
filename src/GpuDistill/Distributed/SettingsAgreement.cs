using System.Text;

namespace GpuDistill.Distributed;

/// <summary>Refuses to start a run whose processes were started with different settings.</summary>
internal static class SettingsAgreement
{
    /// <summary>Compares every process's settings lines with rank 0's; throws on every process when any differs.</summary>
    /// <param name="group">The processes.</param>
    /// <param name="lines">This process's settings, one "name: value" line each.</param>
    /// <exception cref="ArgumentException">A rank's settings differ; the message names the rank and both lines.</exception>
    public static void Require(IProcessGroup group, IReadOnlyList<string> lines)
    {
        byte[][] all = group.AllgatherBytes(Encoding.UTF8.GetBytes(string.Join('\n', lines)));
        string[] first = Encoding.UTF8.GetString(all[0]).Split('\n');
        for (int rank = 1; rank < all.Length; rank++)
        {
            string[] theirs = Encoding.UTF8.GetString(all[rank]).Split('\n');
            int at = Enumerable.Range(0, Math.Max(first.Length, theirs.Length))
                .FirstOrDefault(i => i >= first.Length || i >= theirs.Length || first[i] != theirs[i], -1);
            if (at < 0) continue;
            string Line(string[] l) => at < l.Length ? $"'{l[at]}'" : "nothing";
            throw new ArgumentException(
                $"Rank {rank} was started with other settings than rank 0: rank 0 has {Line(first)}, rank {rank} {Line(theirs)}. Every rank of a distributed run must run the same command on the same data.",
                "settings");
        }
    }
}
