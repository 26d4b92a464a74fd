"""Probe: does a data-aware nearest Kronecker product help at the full runs' ratio-8 shapes?

For every encoder matrix W of all-MiniLM-L6-v2 it compares, on the teacher's own inputs to that
matrix (400 SST-2 training sentences, padding dropped), the relative output error
‖X (W − A⊗B)ᵀ‖ / ‖X Wᵀ‖ of
  - the plain nearest Kronecker product (what `kbert compress` does: SVD of the rearranged W), and
  - a covariance-weighted one: C = XᵀX/n approximated by C1 ⊗ C2 (nearest Kronecker product of C,
    damped), W' = W (S1 ⊗ S2) with S_i S_iᵀ = C_i, the nearest Kronecker product of W', mapped back
    (A = A' S1⁻¹, B = B' S2⁻¹), which minimises the output error under that factored covariance,
at three dampings (1e-1, 1e-2, 1e-3: the same to 0.001). Session 11 result (relative output
error, plain -> weighted): Q/K/V/O 0.79–0.87 -> 0.79–0.87 (largest gain 0.07, layer 5's key;
typically 0.01), W_1 0.84–0.90 -> 0.81–0.90, W_2 0.10–0.83 -> 0.10–0.89 (worse on layer 5). The
Kronecker structure, not the weighting, limits these shapes, so it was not adopted.

    python3 tools/kron_init_probe.py   (needs torch, transformers; models/all-MiniLM-L6-v2)
"""
import os, torch, numpy as np
torch.set_num_threads(1)
from transformers import BertModel, BertTokenizer
m = BertModel.from_pretrained('models/all-MiniLM-L6-v2').eval()
tok = BertTokenizer.from_pretrained('models/all-MiniLM-L6-v2')
lines=[l.split('\t')[0] for l in open(os.environ.get("KBERT_DATA", "../shared/data") + "/glue/SST-2/train.tsv").read().split('\n')[1:] if l][:400]
acts={}
def hook(name):
    def f(mod, inp, out):
        x=inp[0].detach().reshape(-1,inp[0].shape[-1])
        acts.setdefault(name,[]).append(x)
    return f
for n,mod in m.named_modules():
    if isinstance(mod, torch.nn.Linear) and 'encoder' in n: mod.register_forward_hook(hook(n))
with torch.no_grad():
    for i in range(0,400,50):
        b=tok(lines[i:i+50],return_tensors='pt',padding=True,truncation=True,max_length=64)
        acts_before={k:len(v) for k,v in acts.items()}
        m(**b)
        keep=b['attention_mask'].reshape(-1).bool()
        for k in acts: acts[k][-1]=acts[k][-1][keep]
X={k:torch.cat(v).double().numpy() for k,v in acts.items()}
def rearr(W,m1,n1,m2,n2):
    return W.reshape(m1,m2,n1,n2).transpose(0,2,1,3).reshape(m1*n1,m2*n2)
def nkp(W,m1,n1,m2,n2):
    R=rearr(W,m1,n1,m2,n2); U,s,Vt=np.linalg.svd(R,full_matrices=False)
    return (U[:,0]*np.sqrt(s[0])).reshape(m1,n1),(Vt[0]*np.sqrt(s[0])).reshape(m2,n2)
def kfac(C,n1,n2,damp=1e-2):
    R=rearr(C,n1,n1,n2,n2); U,s,Vt=np.linalg.svd(R,full_matrices=False)
    C1=(U[:,0]*np.sqrt(s[0])).reshape(n1,n1); C2=(Vt[0]*np.sqrt(s[0])).reshape(n2,n2)
    if np.trace(C1)<0: C1,C2=-C1,-C2
    C1=(C1+C1.T)/2; C2=(C2+C2.T)/2
    C1+=damp*np.trace(C1)/n1*np.eye(n1); C2+=damp*np.trace(C2)/n2*np.eye(n2)
    return C1,C2
shapes={'attention':(192,192,2,2),'intermediate':(8,4,192,96),'output.dense':(4,8,96,192)}
sd=m.state_dict()
tot={}
for name,x in X.items():
    key='intermediate' if 'intermediate' in name else ('output.dense' if name.endswith('output.dense') and 'attention' not in name else 'attention')
    m1,n1,m2,n2=shapes[key]
    W=sd[name+'.weight'].double().numpy()
    Y=x@W.T; ny=np.linalg.norm(Y)
    A,B=nkp(W,m1,n1,m2,n2); e0=np.linalg.norm(x@(W-np.kron(A,B)).T)/ny
    C=x.T@x/len(x)
    res=[e0]
    for damp in (1e-1,1e-2,1e-3):
        C1,C2=kfac(C,n1,n2,damp)
        S1=np.linalg.cholesky(C1); S2=np.linalg.cholesky(C2)
        Wp=W@np.kron(S1,S2)
        Ap,Bp=nkp(Wp,m1,n1,m2,n2)
        A2=Ap@np.linalg.inv(S1); B2=Bp@np.linalg.inv(S2)
        res.append(np.linalg.norm(x@(W-np.kron(A2,B2)).T)/ny)
    print(name, ' '.join('%.3f'%r for r in res), flush=True)
