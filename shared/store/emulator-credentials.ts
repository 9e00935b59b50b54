/** What the emulators (and LocalStack) are given: they accept any credentials. Apart from clients.ts so that
 * code naming them (the CLI's option handling) loads no AWS SDK. */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'ipcount', secretAccessKey: 'ipcount' } as const;
