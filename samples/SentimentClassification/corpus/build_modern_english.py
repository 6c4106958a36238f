"""Joins the sources of build-modern-english.sh into one shuffled file, one text a line."""
import argparse, email, glob, os, random, re
from email import policy

parser = argparse.ArgumentParser()
parser.add_argument("--austen", required=True)
parser.add_argument("--sotu", required=True)
parser.add_argument("--spam-assassin", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
out = {}
def para_lines(text):
    # paragraphs separated by blank lines -> one line each
    for p in re.split(r'\n\s*\n', text):
        s = ' '.join(p.split())
        if len(s) >= 20: yield s
# fortunes
lines=[]
for f in sorted(glob.glob('/usr/share/games/fortunes/*')):
    if '.' in os.path.basename(f) or os.path.isdir(f): continue
    t = open(f, encoding='utf-8', errors='replace').read()
    for fort in t.split('\n%\n'):
        s = ' '.join(fort.split())
        if len(s) >= 10: lines.append(s)
out['fortunes'] = lines
# austen
out['austen'] = list(para_lines(open(args.austen, encoding='utf-8').read()))
# sotu
lines=[]
for f in sorted(glob.glob(os.path.join(args.sotu, '*.txt'))):
    t = open(f, encoding='utf-8', errors='replace').read()
    # split into sentences-ish chunks of paragraphs; the text is one blob: cut at ~400 chars on sentence ends
    sents = re.split(r'(?<=[.!?])\s+', ' '.join(t.split()))
    cur=''
    for s in sents:
        cur = (cur + ' ' + s).strip()
        if len(cur) > 300: lines.append(cur); cur=''
    if cur: lines.append(cur)
out['sotu'] = lines
# spam-assassin ham
lines=[]
base=args.spam_assassin
for d in ['easy-ham-1','easy-ham-2','hard-ham-1']:
    for f in sorted(glob.glob(f'{base}/{d}/*.txt')):
        raw = open(f,'rb').read()
        msg = email.message_from_bytes(raw, policy=policy.default)
        body=''
        try:
            part = msg.get_body(preferencelist=('plain',))
            if part is not None: body = part.get_content()
        except Exception: continue
        if not body: continue
        keep=[]
        for l in body.split('\n'):
            ls=l.strip()
            if ls.startswith('>') or ls.startswith('--') and len(ls)<4: 
                if ls.startswith('-- '): break
                continue
            if re.match(r'^(On .* wrote:|_{5,}|-{5,}|={5,})', ls): 
                if ls.startswith('___') or ls.startswith('---'): break
                continue
            if 'http' in ls or '@' in ls: continue
            keep.append(l)
        for p in para_lines('\n'.join(keep)):
            if sum(c.isalpha() for c in p) > 0.6*len(p): lines.append(p)
out['email'] = lines
# wordnet glosses
lines=[]
for pos,name in [('adj','adjective'),('adv','adverb'),('noun','noun'),('verb','verb')]:
    for l in open(f'/usr/share/wordnet/data.{pos}', encoding='utf-8', errors='replace'):
        if l.startswith('  '): continue
        head, _, gloss = l.partition('|')
        parts = head.split()
        n = int(parts[3],16)
        words = [parts[4+2*i].replace('_',' ') for i in range(n)]
        words = [re.sub(r'\(.*\)$','',w) for w in words]
        lines.append(f"{', '.join(words)} ({name}): {gloss.strip()}")
out['wordnet'] = lines
allines=[]
for k,v in out.items():
    print(k, len(v), sum(len(x) for x in v))
    allines += v
random.Random(1).shuffle(allines)
with open(args.out,'w',encoding='utf-8') as f:
    for l in allines: f.write(l.replace('\t',' ')+'\n')
print('total', len(allines), os.path.getsize(args.out))
