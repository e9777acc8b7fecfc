// Parity harness: llama.cpp's own clip code (tools/mtmd, compiled from the bundled source) run on inputs
// tunekit gives it, so tests can compare tunekit's vision encoder and preprocessing with the reference.
//   clip-harness encode  MMPROJ PIXELS.f32 NX NY OUT.f32 [FLASH(0|1)] [THREADS]
//       PIXELS: planar f32 [NX, NY, 3] (index x + NX*y + NX*NY*c), already normalised
//       OUT: f32 embeddings [n_tokens, n_embd] row-major as clip_image_encode returns them
//   clip-harness preprocess-rgb  MMPROJ RGB.u8 W H OUT.f32   (interleaved RGB8 → clip's gemma3 preprocessing)
//   clip-harness preprocess-file MMPROJ IMAGE OUT.f32        (decoded with stb_image, as mtmd-helper does)
//       OUT: planar f32 [S, S, 3] after resize and mean/std normalisation
//   clip-harness info MMPROJ → prints "n_tokens n_embd image_size"
//   clip-harness mtmd MODEL MMPROJ RGB.u8 W H PROMPT LOGITS.f32 EMBD.f32
//       llama.cpp's multimodal path end to end: mtmd_init_from_file(MMPROJ, MODEL), mtmd_tokenize(PROMPT with
//       mtmd's default marker "<__media__>" where the image goes), mtmd_encode_chunk, then llama_decode of text
//       tokens and image embeddings as mtmd-helper does (positions in order, the image non-causal when mtmd says so).
//       Prints one JSON line describing the chunks; LOGITS: logits of every text token [n_text][n_vocab];
//       EMBD: the image's soft tokens [n_tokens][n_embd].
// A first line "bins DIR" on stdin is not used: the ggml backends are loaded from $CLIP_HARNESS_BINS.
#include "clip.h"
#include "clip-impl.h"
#include "clip-model.h"
#include "mtmd-image.h"
#include "ggml-backend.h"
#include "llama.h"
#include "mtmd.h"

#define STB_IMAGE_IMPLEMENTATION
#include "stb/stb_image.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

static std::vector<char> read_file(const char * path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(2); }
    return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

static void write_file(const char * path, const void * data, size_t n) {
    FILE * f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
    fclose(f);
}

static clip_ctx * load(const char * mmproj, bool flash) {
    clip_context_params p{};
    p.use_gpu = false;
    p.device = nullptr;
    p.flash_attn_type = flash ? CLIP_FLASH_ATTN_TYPE_ENABLED : CLIP_FLASH_ATTN_TYPE_DISABLED;
    p.image_min_tokens = -1;
    p.image_max_tokens = -1;
    p.warmup = false;
    p.cb_eval = nullptr;
    p.cb_eval_user_data = nullptr;
    p.no_alloc = false;
    p.progress_callback = nullptr;
    p.progress_callback_user_data = nullptr;
    clip_init_result r = clip_init(mmproj, p);
    if (!r.ctx_v) { fprintf(stderr, "clip_init failed for %s\n", mmproj); exit(3); }
    return r.ctx_v;
}

static void write_planar(const char * out, const clip_image_f32 & img) {
    const auto & buf = img.get_ro_buf();
    const size_t n = (size_t) img.nx() * img.ny();
    std::vector<float> planar(n * 3);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) planar[c * n + i] = buf[i * 3 + c];
    write_file(out, planar.data(), planar.size() * sizeof(float));
}

static void preprocess(clip_ctx * ctx, const clip_image_u8 & img, const char * out) {
    mtmd_image_preprocessor_fixed_size pre(ctx);
    mtmd_image_preproc_out res = pre.preprocess(img);
    if (res.entries.size() != 1) { fprintf(stderr, "expected one image, got %zu\n", res.entries.size()); exit(4); }
    write_planar(out, res.entries[0]);
}

static void quiet_log(enum ggml_log_level, const char *, void *) {}

static int run_mtmd(char ** argv) {
    const char * model_path = argv[2];
    const char * mmproj = argv[3];
    const int w = atoi(argv[5]), h = atoi(argv[6]);
    const char * prompt = argv[7];
    llama_log_set(quiet_log, nullptr);
    if (!getenv("CLIP_HARNESS_VERBOSE")) mtmd_log_set(quiet_log, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(model_path, mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", model_path); return 3; }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 2048;
    cp.n_batch = 2048;
    cp.n_ubatch = 2048;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context * lctx = llama_init_from_model(model, cp);
    if (!lctx) { fprintf(stderr, "cannot create a context\n"); return 3; }
    mtmd_context_params mparams = mtmd_context_params_default();
    mparams.use_gpu = false;
    mparams.print_timings = false;
    mparams.n_threads = 2;
    mparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    mparams.warmup = false;
    mtmd_context * mctx = mtmd_init_from_file(mmproj, model, mparams);
    if (!mctx) { fprintf(stderr, "mtmd_init_from_file failed for %s\n", mmproj); return 3; }
    std::vector<char> rgb = read_file(argv[4]);
    if (rgb.size() != (size_t) w * h * 3) { fprintf(stderr, "rgb file size\n"); return 2; }
    mtmd_bitmap * bitmap = mtmd_bitmap_init(w, h, reinterpret_cast<const unsigned char *>(rgb.data()));
    mtmd_input_text text{prompt, strlen(prompt), true, true};
    mtmd_input_chunks * chunks = mtmd_input_chunks_init();
    const mtmd_bitmap * bitmaps[1] = {bitmap};
    if (mtmd_tokenize(mctx, chunks, &text, bitmaps, 1) != 0) { fprintf(stderr, "mtmd_tokenize failed\n"); return 4; }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    const int n_embd = llama_model_n_embd_inp(model);
    std::vector<float> logits;
    std::vector<float> image_embd;
    std::string json = "[";
    llama_pos n_past = 0;
    for (size_t i = 0; i < mtmd_input_chunks_size(chunks); i++) {
        const mtmd_input_chunk * chunk = mtmd_input_chunks_get(chunks, i);
        if (i) json += ",";
        if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_TEXT) {
            size_t n = 0;
            const llama_token * toks = mtmd_input_chunk_get_tokens_text(chunk, &n);
            json += "{\"type\":\"text\",\"tokens\":[";
            llama_batch batch = llama_batch_init((int) n, 0, 1);
            for (size_t t = 0; t < n; t++) {
                json += (t ? "," : "") + std::to_string(toks[t]);
                batch.token[t] = toks[t];
                batch.pos[t] = n_past + (llama_pos) t;
                batch.n_seq_id[t] = 1;
                batch.seq_id[t][0] = 0;
                batch.logits[t] = 1;
            }
            batch.n_tokens = (int) n;
            json += "]}";
            if (n > 0 && llama_decode(lctx, batch) != 0) { fprintf(stderr, "llama_decode (text) failed\n"); return 5; }
            for (size_t t = 0; t < n; t++) {
                const float * l = llama_get_logits_ith(lctx, (int) t);
                logits.insert(logits.end(), l, l + n_vocab);
            }
            llama_batch_free(batch);
            n_past += (llama_pos) n;
        } else {
            const int n = (int) mtmd_input_chunk_get_n_tokens(chunk);
            if (mtmd_encode_chunk(mctx, chunk) != 0) { fprintf(stderr, "mtmd_encode_chunk failed\n"); return 5; }
            const float * embd = mtmd_get_output_embd(mctx);
            image_embd.assign(embd, embd + (size_t) n * n_embd);
            llama_batch batch = llama_batch_init(n, n_embd, 1);
            memcpy(batch.embd, embd, sizeof(float) * (size_t) n * n_embd);
            for (int t = 0; t < n; t++) {
                batch.pos[t] = n_past + t;
                batch.n_seq_id[t] = 1;
                batch.seq_id[t][0] = 0;
                batch.logits[t] = 0;
            }
            batch.n_tokens = n;
            const bool non_causal = mtmd_decode_use_non_causal(mctx, chunk);
            if (non_causal) llama_set_causal_attn(lctx, false);
            const int rc = llama_decode(lctx, batch);
            if (non_causal) llama_set_causal_attn(lctx, true);
            if (rc != 0) { fprintf(stderr, "llama_decode (image) failed\n"); return 5; }
            llama_batch_free(batch);
            json += "{\"type\":\"image\",\"n_tokens\":" + std::to_string(n) + ",\"non_causal\":" + (non_causal ? "true" : "false") + "}";
            n_past += mtmd_input_chunk_get_n_pos(chunk);
        }
    }
    json += "]";
    printf("%s\n", json.c_str());
    write_file(argv[8], logits.data(), logits.size() * sizeof(float));
    write_file(argv[9], image_embd.data(), image_embd.size() * sizeof(float));
    mtmd_input_chunks_free(chunks);
    mtmd_bitmap_free(bitmap);
    mtmd_free(mctx);
    llama_free(lctx);
    llama_model_free(model);
    return 0;
}

int main(int argc, char ** argv) {
    if (argc < 3) { fprintf(stderr, "usage: see the header of clip-harness.cpp\n"); return 1; }
    const char * bins = getenv("CLIP_HARNESS_BINS");
    if (bins) ggml_backend_load_all_from_path(bins); else ggml_backend_load_all();
    const std::string mode = argv[1];
    if (mode == "info") {
        clip_ctx * ctx = load(argv[2], false);
        clip_image_f32 img;
        const int s = clip_get_hparams(ctx)->image_size;
        img.set_size({s, s}, false, false);
        printf("%d %d %d\n", clip_n_output_tokens(ctx, &img), clip_n_mmproj_embd(ctx), s);
        clip_free(ctx);
        return 0;
    }
    if (mode == "encode" && argc >= 7) {
        const bool flash = argc >= 8 && atoi(argv[7]) == 1;
        const int threads = argc >= 9 ? atoi(argv[8]) : 2;
        clip_ctx * ctx = load(argv[2], flash);
        const int nx = atoi(argv[4]), ny = atoi(argv[5]);
        std::vector<char> raw = read_file(argv[3]);
        const size_t n = (size_t) nx * ny;
        if (raw.size() != n * 3 * sizeof(float)) { fprintf(stderr, "pixel file has %zu bytes, expected %zu\n", raw.size(), n * 12); return 2; }
        const float * planar = reinterpret_cast<const float *>(raw.data());
        std::vector<float> inter(n * 3);
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) inter[i * 3 + c] = planar[c * n + i];
        clip_image_f32 img;
        img.set_size({nx, ny}, false, false);
        img.cpy_buf(inter);
        // clip_encode copies into a buffer of the right size and skips the copy when it is empty
        std::vector<float> out((size_t) clip_n_output_tokens(ctx, &img) * clip_n_mmproj_embd(ctx));
        if (!clip_image_encode(ctx, threads, &img, out)) { fprintf(stderr, "clip_image_encode failed\n"); return 5; }
        write_file(argv[6], out.data(), out.size() * sizeof(float));
        printf("%d %d\n", clip_n_output_tokens(ctx, &img), clip_n_mmproj_embd(ctx));
        clip_free(ctx);
        return 0;
    }
    if (mode == "preprocess-rgb" && argc >= 7) {
        clip_ctx * ctx = load(argv[2], false);
        const int w = atoi(argv[4]), h = atoi(argv[5]);
        std::vector<char> raw = read_file(argv[3]);
        if (raw.size() != (size_t) w * h * 3) { fprintf(stderr, "rgb file has %zu bytes, expected %d\n", raw.size(), w * h * 3); return 2; }
        clip_image_u8 img;
        img.set_size({w, h}, false);
        img.cpy_buf(std::vector<uint8_t>(raw.begin(), raw.end()));
        preprocess(ctx, img, argv[6]);
        clip_free(ctx);
        return 0;
    }
    if (mode == "preprocess-file" && argc >= 5) {
        clip_ctx * ctx = load(argv[2], false);
        std::vector<char> raw = read_file(argv[3]);
        int w = 0, h = 0, nc = 0;
        unsigned char * data = stbi_load_from_memory(reinterpret_cast<const unsigned char *>(raw.data()), (int) raw.size(), &w, &h, &nc, 3);
        if (!data) { fprintf(stderr, "stb_image cannot decode %s\n", argv[3]); return 2; }
        clip_image_u8 img;
        img.set_size({w, h}, false);
        img.cpy_buf(std::vector<uint8_t>(data, data + (size_t) w * h * 3));
        stbi_image_free(data);
        preprocess(ctx, img, argv[4]);
        clip_free(ctx);
        return 0;
    }
    if (mode == "mtmd" && argc >= 10) return run_mtmd(argv);
    fprintf(stderr, "bad arguments\n");
    return 1;
}
