export { ORDER_ID_PATTERN, type LineItem, type Order, itemsTotalCents, newOrderBody, orderSchema } from './order';
export { ATTEMPT_HEADER, NEW_ORDER_METHOD, type NewOrderAnswer, ORDER_GENERATOR_APP_ID, ORDER_STORE_APP_ID, confirmsOrder, isResend } from './invocation';
