using System.Net;
using System.Net.Sockets;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>A loopback TCP listener that accepts connections and never answers: a Redis that hangs.</summary>
public sealed class BlackHoleListener : IDisposable
{
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly List<TcpClient> accepted = new();
    private readonly CancellationTokenSource stop = new();

    public BlackHoleListener()
    {
        listener.Start();
        _ = AcceptAsync();
    }

    public string ConnectionString => $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";

    private async Task AcceptAsync()
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(stop.Token);
                lock (accepted) accepted.Add(client);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException)
        {
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Stop();
        lock (accepted) foreach (var client in accepted) client.Dispose();
        stop.Dispose();
    }
}
