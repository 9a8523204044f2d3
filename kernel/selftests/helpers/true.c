/* SPDX-License-Identifier: Apache-2.0 */
/* The smallest program a selftest can exec: static, so no library is mapped. */
int main(void)
{
	return 0;
}
