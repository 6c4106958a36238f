using System.Diagnostics;
using System.Reflection;

namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>
/// Runs one generated case of a loader under a time and memory bound and classifies what came out: a clean refusal
/// (an exception of the loaders' documented kinds, with a readable message), or a result the property then checks.
/// </summary>
internal static class FuzzCase
{
    /// <summary>The longest one case may run; the loaders answer small files in well under a second.</summary>
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(60);

    /// <summary>The most managed memory one case may allocate (the files are at most a few megabytes).</summary>
    public const long AllocationLimitBytes = 2L << 30;

    /// <summary>The exception kinds a loader may answer bad input with; anything else is a bug.</summary>
    private static readonly Type[] CleanRefusals =
    [
        typeof(InvalidDataException), typeof(ArgumentException), typeof(NotSupportedException), typeof(FileNotFoundException),
        typeof(EndOfStreamException), typeof(FormatException), typeof(InvalidOperationException),
    ];

    /// <summary>
    /// Runs <paramref name="load"/>; returns its result, or null when it refused the input cleanly. Fails the test for a
    /// hang, a memory blow-up, an unexpected exception type or a message with binary data in it.
    /// </summary>
    public static T? Run<T>(string description, Func<T> load, Action<string>? outcome = null) where T : class
    {
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
        var clock = Stopwatch.StartNew();
        var task = Task.Run(load);
        try
        {
            if (!task.Wait(TimeLimit)) Assert.Fail($"{description}: the loader ran past {TimeLimit.TotalSeconds} s.");
            outcome?.Invoke("loaded");
            return task.Result;
        }
        catch (AggregateException wrapped)
        {
            Exception error = Unwrap(wrapped.InnerException!);
            Assert.True(CleanRefusals.Any(t => t.IsInstanceOfType(error)),
                $"{description}: refused with {error.GetType().Name}, not one of the documented kinds: {error}");
            Assert.True(Readable(error.Message), $"{description}: the message holds binary data: {error.Message}");
            outcome?.Invoke("refused (" + error.GetType().Name + ")");
            return null;
        }
        finally
        {
            long allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
            Assert.True(allocated < AllocationLimitBytes, $"{description}: allocated {allocated:N0} bytes.");
        }
    }

    /// <summary>The exception a user acts on: ML.NET's loader wraps ours in <see cref="TargetInvocationException"/>.</summary>
    public static Exception Unwrap(Exception error)
    {
        while (error is TargetInvocationException or AggregateException && error.InnerException != null) error = error.InnerException;
        return error;
    }

    /// <summary>No control characters other than line breaks and tabs, and no replacement characters from decoded garbage.</summary>
    public static bool Readable(string message) => message.All(c => c is '\n' or '\r' or '\t' || (!char.IsControl(c) && c != '\uFFFD'));
}
