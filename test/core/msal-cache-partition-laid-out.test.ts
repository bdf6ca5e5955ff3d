// Every case of msal-cache-partition.test.ts again, with every partition laid out in its bytes
// (partition-layout.ts) instead of parsed whole: both ways must remove the same and keep the rest.
process.env.LR_TEST_LAYOUT_FROM = '0';
await import('./msal-cache-partition.test.js');
