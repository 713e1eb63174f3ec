/*
 * version.c - the smallest syncwright C program: print the library version, then show the error pattern.
 *
 * Build against the installed library (scripts/install-c.sh; see examples/c/README.md), from the repository root:
 *   bash scripts/install-c.sh "$HOME/.local" && export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig"
 *   cc -Wall -Wextra -o version examples/c/version.c $(pkg-config --cflags --libs syncwright)
 * and run it with LD_LIBRARY_PATH="$HOME/.local/lib" (or link with -Wl,-rpath,"$HOME/.local/lib").
 * Run:
 *   ./version            # manifest of a folder that does not exist: prints the error
 *   ./version SOME/DIR   # prints the manifest of SOME/DIR as canonical JSON
 */
#include <stdio.h>

#include "syncwright.h"

int main(int argc, char **argv) {
    printf("syncwright %s\n", sw_version());

    const char *root = argc > 1 ? argv[1] : "/nonexistent/syncwright-example";
    char *json = NULL;
    /* A fallible call returns NULL on success, or an error the caller owns. */
    sw_error *err = sw_manifest_build(root, NULL /* default options */, &json);
    if (err != NULL) {
        const char *path = sw_error_path(err);
        printf("error: code=%d kind=%s message=%s\n", (int)sw_error_code(err), sw_error_kind(err),
               sw_error_message(err));
        if (path != NULL) {
            printf("error path: %s\n", path);
        }
        sw_error_free(err); /* frees the message and path too */
        sw_string_free(json); /* still NULL after an error; freeing NULL is fine */
        return argc > 1 ? 1 : 0;
    }
    printf("%s\n", json);
    sw_string_free(json); /* never free(): the string belongs to the library's allocator */
    return 0;
}
