// MLNet.MoE scoring service: serves a saved model.zip over HTTP with dynamic micro-batching and a result cache.
//
//   dotnet run --project samples/ScoringService -c Release -- --Scoring:ModelPath=artifacts/quickstart/model.zip
//
// Settings (docs/serving.md): --Scoring:Urls, MaxBatchSize, MaxBatchWaitMilliseconds, QueueCapacity, ApiKey,
// RedisConnectionString, CacheEnabled, MaxTextsPerRequest, MaxNewTokens, MaxRequestBytes, ...
using MLNet.MoE.Samples.ScoringService;

var app = ScoringServiceHost.Build(args);
await app.RunAsync();
