/// <summary>
/// A check's figures (printed as JSON), its verdict and, when it failed, why: the benchmark modes that are checks
/// (parity, compare-cpu) exit 1 when <see cref="Passed"/> is false.
/// </summary>
internal sealed record CheckResult(object Figures, bool Passed, string Failure);
