/* tests/test_network_c.py's driver for network.c's product x @ W (net_quantize, then vecmat) in a
 * build the test's own process cannot load: another CPU's, run under an emulator (and this CPU's,
 * the same way, for comparison). Reads from stdin, until it ends: int64 K and N, then K x N float32
 * weights (row by row) and K float32 x; writes N float32 to stdout for each, and the build's name
 * to stderr. Compiled with -I charcomplete. */
#include <stdio.h>
#include <stdlib.h>

#include "network.c"

int main(void) {
    int64_t shape[2];
    fprintf(stderr, "%s\n", net_build());
    while (fread(shape, sizeof(int64_t), 2, stdin) == 2) {
        const int64_t K = shape[0], N = shape[1];
        float *w = malloc(sizeof(float) * K * N), *x = malloc(sizeof(float) * K);
        float *g = calloc(N, sizeof(float)), *acc = malloc(sizeof(float) * (2 * ((K + 3) / 4) + 1 + cols(N)));
        weight_t *block = malloc(net_matrix_bytes(K, N));
        if (!w || !x || !g || !acc || !block || fread(w, sizeof(float), K * N, stdin) != (size_t)(K * N) ||
            fread(x, sizeof(float), K, stdin) != (size_t)K)
            return 1;
        net_quantize(K, N, w, block);
        vecmat(K, N, x, block, g, acc);
        fwrite(g, sizeof(float), N, stdout);
        free(w), free(x), free(g), free(acc), free(block);
    }
    return 0;
}
