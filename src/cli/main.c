/* Placeholder until the CLI lands: the CLI helper replaces this file. */
#include <stdio.h>
int main(void) {
    fprintf(stderr, "llamachat: not built yet\n");
    return 1;
}
