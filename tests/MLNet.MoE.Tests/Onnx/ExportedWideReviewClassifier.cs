namespace MLNet.MoE.Tests.Onnx;

/// <summary>
/// The review classifier of <see cref="ExportedReviewClassifier"/> with the wide branch of hashed n-grams at the trainer's
/// default bucket count, exported to ONNX once; shared by the tests of a class.
/// </summary>
public sealed class ExportedWideReviewClassifier : ExportedReviewClassifier
{
    public ExportedWideReviewClassifier()
        : base(new MoeTextClassificationOptions().NgramBuckets)
    {
    }
}
