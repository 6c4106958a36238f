using System.Text;

/// <summary>
/// What an interrupted run left in OUTPUT.partial: the header, then complete lines, then perhaps a torn last line (the
/// process died mid-write). Recovering drops the torn line and reports how many rows are complete and the last row's id.
/// </summary>
internal sealed record PartialOutput(long Rows, string? LastId)
{
    public static PartialOutput Recover(string path, string header)
    {
        if (!File.Exists(path)) return new PartialOutput(0, null);
        long lines = 0, endOfLastLine = -1, startOfLastLine = 0, position = 0;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read))
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                for (int i = 0; i < read; i++)
                {
                    if (buffer[i] != (byte)'\n') continue;
                    startOfLastLine = endOfLastLine + 1;
                    endOfLastLine = position + i;
                    lines++;
                }
                position += read;
            }
        }
        if (lines == 0)
        {
            File.Delete(path); // not even the header was completed
            return new PartialOutput(0, null);
        }
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.SetLength(endOfLastLine + 1); // drops a torn last line
        string firstLine = ReadLine(file, 0);
        if (firstLine != header)
            throw new InvalidDataException($"'{path}' starts with '{firstLine}', not this job's header '{header}': it was written by another job; delete it to start over.");
        if (lines == 1) return new PartialOutput(0, null);
        string last = ReadLine(file, startOfLastLine);
        return new PartialOutput(lines - 1, last.Split('\t')[0]);
    }

    private static string ReadLine(FileStream file, long start)
    {
        file.Position = start;
        var bytes = new List<byte>();
        int b;
        while ((b = file.ReadByte()) >= 0 && b != '\n') bytes.Add((byte)b);
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
