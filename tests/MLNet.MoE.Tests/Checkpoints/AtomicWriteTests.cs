using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Writes that fail part-way leave no partial file and no temporary file behind.</summary>
public class AtomicWriteTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static IEnumerable<KeyValuePair<string, Tensor>> ThrowsAfterTwo()
    {
        yield return new("a", torch.ones(4));
        yield return new("b", torch.ones(4));
        throw new InvalidOperationException("source failed");
    }

    /// <summary>Tensors whose shapes and types are fine, but whose data cannot be copied out: the failure comes while the file is being written.</summary>
    private static IEnumerable<KeyValuePair<string, Tensor>> FailsWhileWritingData()
    {
        yield return new("a", torch.ones(64));
        yield return new("b", torch.ones(64));
        yield return new("meta", torch.empty([64], device: torch.META));
    }

    [Fact]
    public void EnumerationThatThrowsLeavesNoFile()
    {
        using var scope = torch.NewDisposeScope();
        string path = Path.Combine(_folder.Path, "model.safetensors");
        var e = Assert.Throws<InvalidOperationException>(() => SafeTensorsWriter.Write(path, ThrowsAfterTwo()));
        Assert.Equal("source failed", e.Message);
        Assert.False(File.Exists(path));
        Assert.Empty(_folder.FileNames());

        Assert.Throws<InvalidOperationException>(() => CheckpointTensorSource.WriteSharded(_folder.Path, ThrowsAfterTwo(), maxShardBytes: 8));
        Assert.Empty(_folder.FileNames());
    }

    [Fact]
    public void FailureWhileWritingDataRemovesTheTemporaryFileAndKeepsTheOldTarget()
    {
        using var scope = torch.NewDisposeScope();
        string path = Path.Combine(_folder.Path, "model.safetensors");
        var e = Assert.ThrowsAny<ExternalException>(() => SafeTensorsWriter.Write(path, FailsWhileWritingData()));
        Assert.Contains("meta tensor", e.Message);
        Assert.Empty(_folder.FileNames());

        SafeTensorsWriter.Write(path, [new("old", torch.full(3, 5f))]);
        byte[] before = File.ReadAllBytes(path);
        Assert.ThrowsAny<ExternalException>(() => SafeTensorsWriter.Write(path, FailsWhileWritingData()));
        Assert.Equal(["model.safetensors"], _folder.FileNames());
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void ShardedWriteThatFailsOnALaterShardLeavesTheFolderAsItWas()
    {
        using var scope = torch.NewDisposeScope();
        Assert.ThrowsAny<ExternalException>(() => CheckpointTensorSource.WriteSharded(_folder.Path, FailsWhileWritingData(), maxShardBytes: 256));
        Assert.Empty(_folder.FileNames());

        CheckpointTensorSource.WriteSharded(_folder.Path, [new("old", torch.ones(2))], maxShardBytes: 256);
        Assert.ThrowsAny<ExternalException>(() => CheckpointTensorSource.WriteSharded(_folder.Path, FailsWhileWritingData(), maxShardBytes: 256));
        Assert.Equal([CheckpointTensorSource.SingleFileName], _folder.FileNames());
        using CheckpointTensorSource source = CheckpointTensorSource.Open(_folder.Path);
        Assert.Equal(["old"], source.Names);
    }

    [Fact]
    public void DuplicateNamesAreRefusedBeforeAnythingIsWritten()
    {
        using var scope = torch.NewDisposeScope();
        string path = Path.Combine(_folder.Path, "model.safetensors");
        var e = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [new("w", torch.ones(2)), new("x", torch.ones(2)), new("w", torch.ones(2))]));
        Assert.Contains("'w'", e.Message);
        Assert.Empty(_folder.FileNames());

        e = Assert.Throws<ArgumentException>(() => CheckpointTensorSource.WriteSharded(_folder.Path, [new("w", torch.ones(2)), new("w", torch.ones(2))], 8));
        Assert.Contains("'w'", e.Message);
        Assert.Empty(_folder.FileNames());
    }

    [Fact]
    public void UnstorableTypesAreRefused()
    {
        using var scope = torch.NewDisposeScope();
        string path = Path.Combine(_folder.Path, "model.safetensors");
        var e = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [new("c", torch.ones(2, dtype: ScalarType.ComplexFloat32))]));
        Assert.Contains("'c'", e.Message);
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [new("w", torch.ones(2))], storeAs: ScalarType.Int32));
        Assert.Empty(_folder.FileNames());
    }
}
