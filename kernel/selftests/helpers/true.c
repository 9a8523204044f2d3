/* The smallest program a selftest can exec: static, so no library is mapped. */
int main(void)
{
	return 0;
}
