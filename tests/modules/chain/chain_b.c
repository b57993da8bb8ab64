/* libchain-b: the library libchain-a needs. */
int chain_b_value(void);
int chain_b_value(void) { return 40; }
