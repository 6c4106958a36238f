// MSBuild inline task (RoslynCodeTaskFactory): marks the GLIBCXX_3.4.32 version need of libLibTorchSharp.so weak.
// No library edits ELF version-need flags, and binutils has no switch for it, so the ~80 lines below parse the
// section headers and the .gnu.version_r table of an ELF64 little-endian file directly.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenLibTorchSharpGlibcxxNeed : Task
{
    private const string VersionName = "GLIBCXX_3.4.32";
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        if (SystemLibStdCppHasVersion())
        {
            Log.LogMessage(MessageImportance.Low, "libstdc++ provides " + VersionName + "; libLibTorchSharp.so left as is.");
            return true;
        }
        foreach (ITaskItem item in Files)
        {
            string path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            try
            {
                Patch(path);
            }
            catch (Exception e)
            {
                Log.LogWarning("Could not weaken the " + VersionName + " need of '" + path + "': " + e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }

    private static bool SystemLibStdCppHasVersion()
    {
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };
        byte[] needle = Encoding.ASCII.GetBytes(VersionName + "\0");
        foreach (string candidate in candidates)
        {
            if (!File.Exists(candidate)) continue;
            byte[] bytes = File.ReadAllBytes(candidate);
            return Contains(bytes, needle);
        }
        return false;
    }

    private void Patch(string path)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not an ELF64 little-endian file");
        long shoff = checked((long)BitConverter.ToUInt64(elf, 0x28));
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        bool changed = false;
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            CheckRange(elf, sh, 64);
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = checked((long)BitConverter.ToUInt64(elf, (int)sh + 24));
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 40);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 44);
            long strSh = shoff + (long)link * shentsize;
            CheckRange(elf, strSh, 64);
            long strOffset = checked((long)BitConverter.ToUInt64(elf, (int)strSh + 24));
            long need = offset;
            for (int n = 0; n < count; n++)
            {
                CheckRange(elf, need, 16);
                int auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    CheckRange(elf, aux, 16);
                    ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                    long name = strOffset + BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadCString(elf, name) == VersionName && (flags & VerFlagWeak) == 0)
                    {
                        BitConverter.GetBytes((ushort)(flags | VerFlagWeak)).CopyTo(elf, (int)aux + 4);
                        changed = true;
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                uint next = BitConverter.ToUInt32(elf, (int)need + 12);
                if (next == 0) break;
                need += next;
            }
        }
        if (!changed) return;
        // Write a new file and rename it over the old one: the output copy may be a hard link into a package cache.
        string temp = path + ".weaken.tmp";
        File.WriteAllBytes(temp, elf);
        File.Replace(temp, path, null);
        Log.LogMessage(MessageImportance.Normal, "Marked the " + VersionName + " need of '" + path + "' weak.");
    }

    // The task compiles against netstandard2.0, which has no span search.
    private static bool Contains(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }

    private static void CheckRange(byte[] elf, long start, int length)
    {
        if (start < 0 || start + length > elf.Length) throw new InvalidDataException("table points outside the file");
    }

    private static string ReadCString(byte[] elf, long start)
    {
        CheckRange(elf, start, 1);
        int end = Array.IndexOf(elf, (byte)0, (int)start);
        if (end < 0) throw new InvalidDataException("unterminated string");
        return Encoding.ASCII.GetString(elf, (int)start, end - (int)start);
    }
}
