// Reference for soft tokens: llama.cpp itself (the prebuilt libllama of node-llama-cpp's bundle) decoding a
// sequence made of token chunks and raw-embedding chunks, exactly as tools/mtmd/mtmd-helper.cpp feeds an
// image: an embedding batch (llama_batch.embd) at the next positions, with causal attention switched off
// while it is decoded when the chunk asks for it (Gemma 3).
//   llama-embd-harness MODEL IN.bin OUT.f32
//   IN.bin (little-endian int32 unless noted): n_chunks, then per chunk: kind (0 tokens, 1 embeddings),
//     n, non_causal (0|1), then n int32 ids (kind 0) or n·n_embd f32 (kind 1).
//   OUT.f32: logits of every position, [n_total][n_vocab] f32, f32 KV cache, no flash attention.
#include "llama.h"
#include "ggml-backend.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static void die(const char * msg) { fprintf(stderr, "llama-embd-harness: %s\n", msg); exit(2); }

int main(int argc, char ** argv) {
    if (argc != 4) die("usage: llama-embd-harness MODEL IN.bin OUT.f32");
    const char * bins = getenv("LLAMA_EMBD_HARNESS_BINS");
    if (!bins) die("set LLAMA_EMBD_HARNESS_BINS to the folder of the ggml libraries");
    ggml_backend_load_all_from_path(bins);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) die("cannot load the model");
    FILE * in = fopen(argv[2], "rb");
    if (!in) die("cannot open the input");
    auto rd = [&](void * p, size_t n) { if (fread(p, 1, n, in) != n) die("short input"); };
    int32_t n_chunks = 0;
    rd(&n_chunks, 4);
    const int n_embd = llama_model_n_embd_inp(model);
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_seq_max = 1;
    cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) die("cannot create the context");

    std::vector<float> out;
    int pos = 0;
    for (int c = 0; c < n_chunks; c++) {
        int32_t head[3];
        rd(head, 12);
        const int kind = head[0], n = head[1], non_causal = head[2];
        llama_batch b = llama_batch_init(n, kind == 1 ? n_embd : 0, 1);
        b.n_tokens = n;
        if (kind == 0) rd(b.token, 4 * (size_t) n);
        else rd(b.embd, 4 * (size_t) n * n_embd);
        for (int i = 0; i < n; i++) {
            b.pos[i] = pos + i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
        }
        if (non_causal) llama_set_causal_attn(ctx, false);
        if (llama_decode(ctx, b) != 0) die("llama_decode failed");
        if (non_causal) llama_set_causal_attn(ctx, true);
        for (int i = 0; i < n; i++) {
            const float * l = llama_get_logits_ith(ctx, i);
            out.insert(out.end(), l, l + n_vocab);
        }
        pos += n;
        llama_batch_free(b);
    }
    fclose(in);
    FILE * o = fopen(argv[3], "wb");
    if (!o || fwrite(out.data(), 4, out.size(), o) != out.size()) die("cannot write the output");
    fclose(o);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
