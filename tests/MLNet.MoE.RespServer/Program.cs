// A Garnet RESP server on 127.0.0.1 and the given port, in memory only (no checkpoints, no append-only file), as the
// Redis tests start redis-server. Runs until it is killed or its standard input closes.
//   dotnet MLNet.MoE.RespServer.dll <port>
using System.Globalization;
using Garnet;

if (args.Length != 1 || !int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
{
    Console.Error.WriteLine("usage: MLNet.MoE.RespServer <port 1..65535>");
    return 2;
}
using var server = new GarnetServer(["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--memory", "64m", "--index", "16m"]);
server.Start();
Console.WriteLine($"listening on 127.0.0.1:{port}");
// The parent test ends the server by killing the process; a closed standard input (the parent gone) ends it too.
while (Console.In.ReadLine() != null)
{
}
return 0;
