/* What the login tests look at beyond the password API: no production code uses this. */
#ifndef TWOFOLD_AUTH_PASSWORD_TEST_H
#define TWOFOLD_AUTH_PASSWORD_TEST_H

/* Number of password_verify calls in this process: that Argon2 ran, and how often. */
extern unsigned long password_verify_count;

#endif
