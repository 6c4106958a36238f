/// <summary>Finds the King James Bible text (one verse a line).</summary>
internal static class Corpus
{
    /// <summary>The repository's <c>data/kjv-pentateuch.txt</c> (Genesis to Deuteronomy), copied beside the program.</summary>
    private static readonly string ShippedCopy = Path.Combine(AppContext.BaseDirectory, "Data", "kjv-pentateuch.txt");

    /// <summary>
    /// The --corpus file; else the first five books shipped with the sample. Null (after saying why) when --corpus names
    /// a file that does not exist.
    /// </summary>
    public static string? Locate(BibleArguments arguments)
    {
        if (arguments.CorpusPath != null)
        {
            if (File.Exists(arguments.CorpusPath)) return arguments.CorpusPath;
            Console.Error.WriteLine(
                $"""
                The corpus '{arguments.CorpusPath}' does not exist. For the whole King James Bible, one verse a line
                (public domain, packaged by Debian):
                    sudo apt-get install bible-kjv
                    bible -f 'gen1:1-rev22:21' | sed -E 's/^[^ ]+ //' > kjv.txt
                """);
            return null;
        }
        if (File.Exists(ShippedCopy)) return ShippedCopy;
        Console.Error.WriteLine($"The shipped corpus '{ShippedCopy}' is missing: rebuild the sample, or pass --corpus FILE.");
        return null;
    }
}
