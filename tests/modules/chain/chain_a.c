/* libchain-a: a private library that needs another private library. Its
 * name sorts before libchain-b, so a loader that unloads in name order
 * (rather than dependency order) would unload libchain-b while libchain-a
 * still needs it, and report it as stuck. */
int chain_b_value(void);
int chain_a_value(void);
int chain_a_value(void) { return chain_b_value() + 2; }
