# The same LoRA training step as `tunekit bench train`, in PyTorch (f32, CPU): a Llama-shaped decoder with
# GQA, RMSNorm, RoPE, SwiGLU, LoRA on every linear layer of the blocks (A random, B zero), cross-entropy on
# random tokens, backward, AdamW over the LoRA weights. Prints {"tokens_per_s": ...} as JSON.
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"])
torch.manual_seed(0)
D, L, H, KV, FF, V, T, B, R = a["dim"], a["layers"], a["heads"], a["kv_heads"], a["ffn"], a["vocab"], a["seq"], a["batch"], a["r"]
hd = D // H

class LoraLinear(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.w = nn.Parameter(torch.randn(o, i) * 0.02, requires_grad=False)
        self.a = nn.Parameter(torch.randn(R, i) / math.sqrt(i))
        self.b = nn.Parameter(torch.zeros(o, R))
    def forward(self, x):
        return F.linear(x, self.w) + F.linear(F.linear(x, self.a), self.b) * 2.0

def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

pos = torch.arange(T)
inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
ang = torch.outer(pos.float(), inv)
cos, sin = ang.cos(), ang.sin()
def rope(x):  # x [B, h, T, hd], rotate-half (NeoX) form
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = LoraLinear(D, H * hd), LoraLinear(D, KV * hd), LoraLinear(D, KV * hd), LoraLinear(H * hd, D)
        self.g, self.u, self.d = LoraLinear(D, FF), LoraLinear(D, FF), LoraLinear(FF, D)
        self.n1 = nn.Parameter(torch.ones(D), requires_grad=False)
        self.n2 = nn.Parameter(torch.ones(D), requires_grad=False)
    def forward(self, x, mask):
        h = rms(x, self.n1)
        q = rope(self.q(h).view(B, T, H, hd).transpose(1, 2))
        k = rope(self.k(h).view(B, T, KV, hd).transpose(1, 2)).repeat_interleave(H // KV, 1)
        v = self.v(h).view(B, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, 1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, -1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, H * hd))
        h = rms(x, self.n2)
        return x + self.d(F.silu(self.g(h)) * self.u(h))

emb = nn.Parameter(torch.randn(V, D) * 0.02, requires_grad=False)
blocks = nn.ModuleList([Block() for _ in range(L)])
norm = nn.Parameter(torch.ones(D), requires_grad=False)
params = [p for p in blocks.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4)
mask = torch.full((T, T), float("-inf")).triu(1)
tok = torch.randint(0, V, (B, T + 1))

def step():
    opt.zero_grad()
    x = emb[tok[:, :-1]]
    for b in blocks:
        x = b(x, mask)
    logits = F.linear(rms(x, norm), emb)
    loss = F.cross_entropy(logits.reshape(-1, V), tok[:, 1:].reshape(-1))
    loss.backward()
    opt.step()

step()
times = []
for _ in range(a["steps"]):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
ms = times[len(times) // 2] * 1000
print(json.dumps({"tokens_per_s": B * T / (ms / 1000), "ms_per_step": ms, "torch": torch.__version__}))
