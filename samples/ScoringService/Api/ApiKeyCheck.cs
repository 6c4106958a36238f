using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace MLNet.MoE.Samples.ScoringService.Api;

/// <summary>When an API key is configured, answers 401 to any request but the health checks (<c>/health/…</c>, <c>/healthz</c>) without it in <c>X-Api-Key</c>.</summary>
public static class ApiKeyCheck
{
    /// <summary>The header that carries the key.</summary>
    public const string HeaderName = "X-Api-Key";

    /// <summary>Adds the check to <paramref name="app"/> (it lets everything through when no key is configured).</summary>
    public static void Use(WebApplication app)
    {
        byte[]? expected = null;
        bool read = false;
        app.Use(async (ctx, next) =>
        {
            if (!read)
            {
                string? key = ctx.RequestServices.GetRequiredService<IOptions<ScoringServiceOptions>>().Value.EffectiveApiKey;
                expected = key == null ? null : Encoding.UTF8.GetBytes(key);
                read = true;
            }
            if (expected == null || ctx.Request.Path.StartsWithSegments("/health") || ctx.Request.Path.StartsWithSegments("/healthz"))
            {
                await next(ctx).ConfigureAwait(false);
                return;
            }
            string? given = ctx.Request.Headers[HeaderName];
            // Fixed-time comparison, so response timing does not reveal how much of a guessed key was right.
            if (given == null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), expected))
            {
                await Results.Problem(detail: $"A valid {HeaderName} header is required.", statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(ctx).ConfigureAwait(false);
                return;
            }
            await next(ctx).ConfigureAwait(false);
        });
    }
}
