using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>
/// A real redis-server on loopback: the one named by <c>MLNET_MOE_TEST_REDIS</c> (host:port; CI starts it), or else
/// one this fixture starts from <c>redis-server</c> on the PATH on a free port and stops afterwards. <see cref="StartOwn"/>
/// always starts one of its own, which a test may kill and start again on the same port.
/// </summary>
public sealed class RedisServer : IDisposable
{
    public const string VariableName = "MLNET_MOE_TEST_REDIS";
    private readonly int port;
    private Process? process;

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
        port = FreePort();
        ConnectionString = $"127.0.0.1:{port}";
        Start();
    }

    /// <summary>host:port of the server.</summary>
    public string ConnectionString { get; }

    /// <summary>A redis-server of this test's own, on a free port.</summary>
    public static RedisServer StartOwn() => new(own: true);

    /// <summary>Kills the server (its own only) at once, as a crash would.</summary>
    public void Kill()
    {
        if (process == null) throw new InvalidOperationException("Only a redis-server this fixture started can be killed.");
        process.Kill();
        process.WaitForExit(5000);
        process.Dispose();
        process = null;
    }

    /// <summary>Starts the server again on the same port.</summary>
    public void Start()
    {
        string? executable = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);
        if (executable == null)
            throw new InvalidOperationException($"The Redis tests need a redis-server: install the Debian package redis-server (as .ci/run does) or set {VariableName}=host:port.");
        process = Process.Start(new ProcessStartInfo(executable, $"--port {port} --bind 127.0.0.1 --save \"\" --appendonly no")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!CanConnect(port))
        {
            if (process.HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException($"redis-server did not start on port {port}.");
            Thread.Sleep(50);
        }
    }

    public void Dispose()
    {
        if (process is { HasExited: false })
        {
            process.Kill();
            process.WaitForExit(5000);
        }
        process?.Dispose();
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
