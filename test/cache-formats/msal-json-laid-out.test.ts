// Every case of msal-json.test.ts again, with every partition laid out in its bytes
// (json-layout.ts) instead of parsed whole: both ways must remove the same and keep the rest.
process.env.LR_TEST_LAYOUT_FROM = '0';
await import('./msal-json.test.js');
