"""A design's nnet_utils against every hls4ml commit's, ignoring line ends, whitespace, comments and prints."""
import subprocess,sys,collections,hashlib,json,os,pickle,re
H='/work/.mirror/fastmachinelearning+hls4ml/repo'
SKIP={'nnet_code_gen.h','nnet_helpers.h'}  # generated per project / testbench only
def norm(b):
    s=b.decode('latin1').replace('\r','')
    s=re.sub(r'/\*.*?\*/','',s,flags=re.S); s=re.sub(r'//[^\n]*','',s)
    lines=[re.sub(r'\s+','',l) for l in s.split('\n')]
    lines=[l for l in lines if l and not l.startswith('#include') and 'cout' not in l and 'printf' not in l and 'cerr' not in l]
    return hashlib.sha1('\n'.join(lines).encode()).hexdigest()
def cat(repo, objs):
    p=subprocess.run(['git','-C',repo,'cat-file','--batch'],input=''.join(o+'\n' for o in objs).encode(),capture_output=True).stdout
    out={};i=0
    for o in objs:
        nl=p.index(b'\n',i); hdr=p[i:nl].split()
        if hdr[1]==b'missing': out[o]=None; i=nl+1; continue
        size=int(hdr[2]); out[o]=p[nl+1:nl+1+size]; i=nl+1+size+1
    return out
idx='/tmp/h23_idx3.pkl'
if os.path.exists(idx): tag,hist=pickle.load(open(idx,'rb'))
else:
    rows=[l.split() for l in open('/tmp/h23_tagblobs.txt')]
    ids=sorted({r[0] for r in rows}|set(open('/tmp/h23_histblobs.txt').read().split()))
    blobs=cat(H,ids)
    tag=collections.defaultdict(set)
    for b,t,p in rows:
        if blobs.get(b) is not None: tag[norm(blobs[b])].add(t)
    hist={norm(v) for v in blobs.values() if v is not None}
    pickle.dump((tag,hist),open(idx,'wb'))
repo,commit,fw=sys.argv[1:4]
out=subprocess.run(['git','-C',repo,'ls-tree','-r',commit,(fw.rstrip('/')+'/nnet_utils/').lstrip('./')],capture_output=True,text=True).stdout
files=[l.split(None,3) for l in out.splitlines() if l.endswith('.h') and l.split('/')[-1] not in SKIP]
blobs=cat(repo,[f[2] for f in files])
tags=None; mod=[]; missing=0
for m,t,b,p in files:
    if blobs[b] is None: missing+=1; continue
    h=norm(blobs[b])
    if h in tag: tags=set(tag[h]) if tags is None else tags & tag[h]
    if h not in hist: mod.append(p.split('/')[-1])
print(json.dumps({"files":len(files),"missing":missing,"not_in_hls4ml":mod,"tags":sorted(tags) if tags is not None else None}))
