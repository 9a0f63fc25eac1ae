export { ORDER_ID_PATTERN, type LineItem, type Order, itemsTotalCents, newOrderBody, orderSchema } from './order';
export { ATTEMPT_HEADER, NEW_ORDER_METHOD, ORDER_GENERATOR_APP_ID, ORDER_STORE_APP_ID, isResend } from './invocation';
