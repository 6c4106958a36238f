using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>
/// A RESP server on loopback: the one named by <c>MLNET_MOE_TEST_REDIS</c> (host:port; CI starts one), or else one this
/// fixture starts as a process on a free port and stops afterwards: <c>redis-server</c> from the PATH, or, where the
/// machine has none, Microsoft's Garnet hosted by <c>tests/MLNet.MoE.RespServer</c>, so the tests need nothing installed
/// beyond the .NET SDK. <c>MLNET_MOE_TEST_REDIS_SERVER</c> = <c>redis-server</c> or <c>garnet</c> picks one.
/// <see cref="StartOwn"/> always starts one of its own, which a test may kill and start again on the same port.
/// </summary>
public sealed class RedisServer : IDisposable
{
    public const string VariableName = "MLNET_MOE_TEST_REDIS";

    /// <summary>Names the server kind to start: <c>redis-server</c> or <c>garnet</c>; unset, redis-server where it is on the PATH.</summary>
    public const string KindVariableName = "MLNET_MOE_TEST_REDIS_SERVER";

    private readonly string? redisServerPath;
    private readonly string? externalConnection;
    private int port;
    private Process? process;

    public RedisServer() : this(own: false)
    {
    }

    private RedisServer(bool own)
    {
        string? given = Environment.GetEnvironmentVariable(VariableName);
        if (!own && !string.IsNullOrWhiteSpace(given))
        {
            externalConnection = given;
            Kind = "external";
            return;
        }
        redisServerPath = RedisServerToStart();
        Kind = redisServerPath != null ? "redis-server" : "garnet";
        // A port found free can be taken by another listener before the server binds it (Garnet's host needs about a
        // second to start): then the server exits, and another free port is tried.
        for (int attempt = 1; ; attempt++)
        {
            port = FreePort();
            try
            {
                Start();
                break;
            }
            catch (PortTakenException) when (attempt < 3)
            {
            }
        }
    }

    /// <summary>host:port of the server.</summary>
    public string ConnectionString => externalConnection ?? $"127.0.0.1:{port}";

    /// <summary>Which server answers: an external one, redis-server or Garnet.</summary>
    public string Kind { get; }

    /// <summary>A server of this test's own, on a free port.</summary>
    public static RedisServer StartOwn() => new(own: true);

    /// <summary>The redis-server executable to start, or null for Garnet.</summary>
    private static string? RedisServerToStart()
    {
        string? onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);
        string? kind = Environment.GetEnvironmentVariable(KindVariableName);
        return kind switch
        {
            null or "" => onPath,
            "garnet" => null,
            "redis-server" => onPath ?? throw new InvalidOperationException(
                $"{KindVariableName}=redis-server, but no redis-server is on the PATH: install the Debian package redis-server (as .ci/run does)."),
            _ => throw new InvalidOperationException($"{KindVariableName}='{kind}' is not a server kind: use redis-server or garnet."),
        };
    }

    /// <summary>Kills the server (its own only) at once, as a crash would.</summary>
    public void Kill()
    {
        if (process == null) throw new InvalidOperationException("Only a server this fixture started can be killed.");
        StopProcess();
    }

    /// <summary>Starts the server again on the same port.</summary>
    public void Start()
    {
        ProcessStartInfo start;
        if (redisServerPath != null)
        {
            start = new ProcessStartInfo(redisServerPath, $"--port {port} --bind 127.0.0.1 --save \"\" --appendonly no");
        }
        else
        {
            string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            string host = Path.Combine(ServiceProcess.RepositoryRoot, "tests", "MLNet.MoE.RespServer", "bin", configuration, "net10.0", "MLNet.MoE.RespServer.dll");
            if (!File.Exists(host)) throw new FileNotFoundException($"{host} was not built (it is a build dependency of these tests).", host);
            start = new ProcessStartInfo("dotnet");
            start.ArgumentList.Add(host);
            start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            // Garnet's host runs until its standard input closes: the pipe below, held open while the server should run.
            start.RedirectStandardInput = true;
        }
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        process = Process.Start(start)!;
        // Garnet's host says when it listens, after it bound the port: a port taken meanwhile by another listener then
        // shows as the process ending, not as a connection to that listener. Both pipes are drained so a chatty server
        // never blocks on a full pipe.
        using var listening = new ManualResetEventSlim(redisServerPath != null);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.StartsWith("listening on ", StringComparison.Ordinal) == true) listening.Set();
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!listening.IsSet || !CanConnect(port))
        {
            if (process.HasExited)
            {
                int exitCode = process.ExitCode;
                StopProcess();
                throw new PortTakenException($"{Kind} did not start on port {port} (it exited with code {exitCode}).");
            }
            if (DateTime.UtcNow > deadline) throw new InvalidOperationException($"{Kind} did not start on port {port} within 30 s.");
            Thread.Sleep(50);
        }
    }

    /// <summary>The server process ended before it listened: most often its port was taken in the meantime.</summary>
    private sealed class PortTakenException(string message) : InvalidOperationException(message);

    public void Dispose() => StopProcess();

    private void StopProcess()
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        process?.Dispose();
        process = null;
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool CanConnect(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
