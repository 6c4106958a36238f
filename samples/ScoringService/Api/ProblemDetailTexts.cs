namespace MLNet.MoE.Samples.ScoringService.Api;

/// <summary>Adds a <c>detail</c> to the problem documents the framework writes itself (404, 405, 415 from routing), so every error says what was wrong.</summary>
public static class ProblemDetailTexts
{
    /// <summary>For <c>ProblemDetailsOptions.CustomizeProblemDetails</c>.</summary>
    public static void Customize(ProblemDetailsContext context)
    {
        if (context.ProblemDetails.Detail != null) return;
        var request = context.HttpContext.Request;
        context.ProblemDetails.Detail = context.ProblemDetails.Status switch
        {
            StatusCodes.Status404NotFound => $"There is no endpoint at {request.Path}. The API: POST /v1/score, POST /v1/generate; GET /health/live, /health/ready, /metrics, /openapi/v1.json.",
            StatusCodes.Status405MethodNotAllowed => $"{request.Method} is not allowed on {request.Path}.",
            StatusCodes.Status415UnsupportedMediaType => "The request body must be JSON (Content-Type: application/json).",
            _ => null,
        };
    }
}
