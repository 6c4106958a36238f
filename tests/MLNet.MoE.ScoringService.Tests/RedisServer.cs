using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Garnet;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>
/// A RESP server on loopback: the one named by <c>MLNET_MOE_TEST_REDIS</c> (host:port; CI starts one), or else one this
/// fixture starts on a free port and stops afterwards: <c>redis-server</c> from the PATH as a process, or, where the
/// machine has none, Microsoft's Garnet inside the test process, so the tests need nothing installed beyond the .NET SDK.
/// <c>MLNET_MOE_TEST_REDIS_SERVER</c> = <c>redis-server</c> or <c>garnet</c> picks one. <see cref="StartOwn"/> always
/// starts one of its own, which a test may kill and start again on the same port.
/// </summary>
public sealed class RedisServer : IDisposable
{
    public const string VariableName = "MLNET_MOE_TEST_REDIS";

    /// <summary>Names the server kind to start: <c>redis-server</c> or <c>garnet</c>; unset, redis-server where it is on the PATH.</summary>
    public const string KindVariableName = "MLNET_MOE_TEST_REDIS_SERVER";

    private readonly int port;
    private readonly string? redisServerPath;
    private Process? process;
    private GarnetServer? garnet;

    public RedisServer() : this(own: false)
    {
    }

    private RedisServer(bool own)
    {
        string? given = Environment.GetEnvironmentVariable(VariableName);
        if (!own && !string.IsNullOrWhiteSpace(given))
        {
            ConnectionString = given;
            return;
        }
        redisServerPath = RedisServerToStart();
        port = FreePort();
        ConnectionString = $"127.0.0.1:{port}";
        Start();
    }

    /// <summary>The redis-server executable to start, or null for an in-process Garnet server.</summary>
    private static string? RedisServerToStart()
    {
        string? onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);
        string? kind = Environment.GetEnvironmentVariable(KindVariableName);
        switch (kind)
        {
            case null or "":
                return onPath;
            case "garnet":
                return null;
            case "redis-server":
                return onPath ?? throw new InvalidOperationException(
                    $"{KindVariableName}=redis-server, but no redis-server is on the PATH: install the Debian package redis-server (as .ci/run does).");
            default:
                throw new InvalidOperationException($"{KindVariableName}='{kind}' is not a server kind: use redis-server or garnet.");
        }
    }

    /// <summary>Which server answers: an external one, redis-server or Garnet.</summary>
    public string Kind => redisServerPath != null ? "redis-server" : port == 0 ? "external" : "garnet";

    /// <summary>host:port of the server.</summary>
    public string ConnectionString { get; }

    /// <summary>A redis-server of this test's own, on a free port.</summary>
    public static RedisServer StartOwn() => new(own: true);

    /// <summary>Kills the server (its own only) at once, as a crash would.</summary>
    public void Kill()
    {
        if (process == null && garnet == null) throw new InvalidOperationException("Only a server this fixture started can be killed.");
        StopServer();
    }

    /// <summary>Starts the server again on the same port.</summary>
    public void Start()
    {
        if (redisServerPath == null)
        {
            // In memory only, no checkpoints or append-only file: as the redis-server below is started.
            garnet = new GarnetServer(["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                "--memory", "64m", "--index", "16m"]);
            garnet.Start();
        }
        else
        {
            process = Process.Start(new ProcessStartInfo(redisServerPath, $"--port {port} --bind 127.0.0.1 --save \"\" --appendonly no")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!CanConnect(port))
        {
            if (process is { HasExited: true } || DateTime.UtcNow > deadline) throw new InvalidOperationException($"{Kind} did not start on port {port}.");
            Thread.Sleep(50);
        }
    }

    public void Dispose() => StopServer();

    private void StopServer()
    {
        if (process is { HasExited: false })
        {
            process.Kill();
            process.WaitForExit(5000);
        }
        process?.Dispose();
        process = null;
        garnet?.Dispose();
        garnet = null;
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
