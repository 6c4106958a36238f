// MLNet.MoE scoring service: serves a saved model.zip over HTTP with dynamic micro-batching and a two-level result cache.
//
//   dotnet run --project samples/ScoringService -c Release -- --Scoring:ModelPath=artifacts/quickstart/model.zip [--urls http://127.0.0.1:5080]
//
// Settings: appsettings.json (every setting, with its default) and samples/ScoringService/README.md. A setting that
// stops the start (no model, a value that is not a number, a file that is not a model) is logged by name; exit code 1.
using MLNet.MoE.Samples.ScoringService;
using MLNet.MoE.Samples.ScoringService.Hosting;

WebApplication? app = null;
try
{
    app = ScoringServiceHost.Build(args);
    await app.StartAsync();
}
catch (Exception e)
{
    using var fallback = app == null ? LoggerFactory.Create(logging => logging.AddSimpleConsole()) : null;
    var logger = app?.Logger ?? fallback!.CreateLogger(StartupReport.Category);
    logger.LogCritical("The scoring service could not start: {Reason}", StartupErrors.Describe(e));
    if (app != null) await app.DisposeAsync();
    return 1;
}
await app.WaitForShutdownAsync();
await app.DisposeAsync();
return 0;
