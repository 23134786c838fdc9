export {
  TicketKey,
  generateKey,
  isKeyId,
  isKeySize,
  keyIdOf,
  keyNameLength,
  keySizes,
  secretLengthOf,
  zeroKey,
  type KeySize,
} from './ticket-key.js';
export {
  keyLayouts,
  layoutSizesOf,
  parseHaproxyLine,
  parseKey,
  renderHaproxyLine,
  renderKey,
  type KeyLayout,
} from './layouts.js';
