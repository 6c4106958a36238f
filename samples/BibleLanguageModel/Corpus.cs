/// <summary>Finds the King James Bible text (one verse a line).</summary>
internal static class Corpus
{
    private const string SharedCopy = "../shared/data/kjv.txt";

    /// <summary>
    /// The --corpus file; else a copy of ../shared/data/kjv.txt (relative to the current folder: the repository root)
    /// placed in the output folder; else null after explaining how to get the text.
    /// </summary>
    public static string? Locate(BibleArguments arguments)
    {
        if (arguments.CorpusPath != null)
        {
            if (File.Exists(arguments.CorpusPath)) return arguments.CorpusPath;
            Console.Error.WriteLine($"The corpus '{arguments.CorpusPath}' does not exist.");
            return null;
        }
        string copy = Path.Combine(arguments.OutputDirectory, "kjv.txt");
        if (File.Exists(copy)) return copy;
        if (File.Exists(SharedCopy))
        {
            File.Copy(SharedCopy, copy);
            return copy;
        }
        Console.Error.WriteLine(
            $"""
            The King James Bible text was not found ({SharedCopy} relative to {Environment.CurrentDirectory}).
            It is public domain and packaged by Debian. To make it, one verse a line:
                sudo apt-get install bible-kjv
                bible -f 'gen1:1-rev22:21' > kjv-with-references.txt
            then remove the verse reference at the start of each line, and run the sample with --corpus kjv.txt.
            """);
        return null;
    }
}
