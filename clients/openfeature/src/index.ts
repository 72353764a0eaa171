/** @lotty/openfeature-provider: Lotty as an OpenFeature server provider. See README.md. */
export {
  LottyProvider,
  RESOLUTION_REASONS,
  STALE_REASON,
  type LottyProviderOptions,
} from "./provider.js";
